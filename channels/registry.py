"""The explicit list of channel connectors; the application factory builds the enabled ones."""

from __future__ import annotations

import logging
from collections.abc import Callable

from channels.base import Connector
from channels.web.connector import WebConnector
from intake.runtime import Runtime

log = logging.getLogger(__name__)

Factory = Callable[[Runtime], Connector | None]


def _web(runtime: Runtime) -> Connector:
    return WebConnector(runtime)


def _wechat(runtime: Runtime) -> Connector | None:
    if not runtime.settings.wechat:
        return None  # not configured: don't even import the channel's libraries
    from channels.wechat.connector import build

    return build(runtime)


def _sms(runtime: Runtime) -> Connector | None:
    if not runtime.settings.sms:
        return None  # not configured: don't even import the channel's libraries
    from channels.sms.connector import build

    return build(runtime)


def _email(runtime: Runtime) -> Connector | None:
    if not runtime.settings.email:
        return None  # not configured: don't even import the channel's libraries
    from channels.email.connector import build

    return build(runtime)


def _telegram(runtime: Runtime) -> Connector | None:
    if not runtime.settings.telegram:
        return None  # not configured: don't even import the channel's libraries
    from channels.telegram.connector import build

    return build(runtime)


REGISTRY: dict[str, Factory] = {
    "web": _web,
    "wechat": _wechat,
    "sms": _sms,
    "telegram": _telegram,
    "email": _email,
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
