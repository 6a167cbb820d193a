"""The explicit list of channel connectors; the application factory builds the enabled ones."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel

from channels.base import Connector
from channels.email.settings import EmailSettings
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.web.connector import WebConnector
from channels.wechat.settings import WeChatSection
from channels.wecom.settings import WeComSettings
from intake.runtime import Runtime

log = logging.getLogger(__name__)


class ChannelSections(Protocol):
    """The channels' settings sections, each validated at start-up; None: not configured."""

    @property
    def wechat(self) -> WeChatSection | None: ...

    @property
    def sms(self) -> SmsSettings | None: ...

    @property
    def email(self) -> EmailSettings | None: ...

    @property
    def telegram(self) -> TelegramSettings | None: ...

    @property
    def wecom(self) -> WeComSettings | None: ...


Factory = Callable[[Runtime, ChannelSections], Connector | None]


def _web(runtime: Runtime, sections: ChannelSections) -> Connector:
    return WebConnector(runtime)


def _configured(name: str) -> Factory:
    """`channels.<name>.connector.build` with its section, imported only when it is set."""

    def factory(runtime: Runtime, sections: ChannelSections) -> Connector | None:
        section: BaseModel | None = getattr(sections, name)
        if section is None:
            return None
        module = importlib.import_module(f"channels.{name}.connector")
        connector: Connector | None = module.build(runtime, section)
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


def build_connectors(runtime: Runtime, sections: ChannelSections) -> dict[str, Connector]:
    """Every connector whose settings are present; the others say so once at start-up."""
    built: dict[str, Connector] = {}
    for name, factory in REGISTRY.items():
        connector = factory(runtime, sections)
        if connector is None:
            log.info("channel %s is disabled (no settings)", name)
            continue
        built[name] = connector
    return built
