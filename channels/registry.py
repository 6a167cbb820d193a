"""The explicit list of channel connectors; the application factory builds the enabled ones."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from channels.base import Connector
from channels.web.connector import WebConnector
from intake.runtime import Runtime

log = logging.getLogger(__name__)

Factory = Callable[[Runtime], Connector | None]


def _web(runtime: Runtime) -> Connector:
    return WebConnector(runtime)


def _configured(name: str) -> Factory:
    """`channels.<name>.connector.build`, imported only when the channel has settings."""

    def factory(runtime: Runtime) -> Connector | None:
        if not getattr(runtime.settings, name):
            return None
        module = importlib.import_module(f"channels.{name}.connector")
        connector: Connector | None = module.build(runtime)
        return connector

    return factory


REGISTRY: dict[str, Factory] = {
    "web": _web,
    "wechat": _configured("wechat"),
    "sms": _configured("sms"),
    "email": _configured("email"),
    "telegram": _configured("telegram"),
    "wecom": _configured("wecom"),  # staff alerts and card taps (企业微信)
}


def build_connectors(runtime: Runtime) -> dict[str, Connector]:
    """Every connector whose settings are present; the others say so once at start-up."""
    built: dict[str, Connector] = {}
    for name, factory in REGISTRY.items():
        connector = factory(runtime)
        if connector is None:
            log.info("channel %s is disabled (no settings)", name)
            continue
        built[name] = connector
    return built
