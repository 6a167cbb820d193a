"""The explicit list of channel connectors, each built from the few parts it uses.

The composition root hands every connector its validated settings section and only the parts
of the runtime it names; no connector sees the whole runtime."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from channels.base import Connector
from channels.email.settings import EmailSettings
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.web.connector import WebConnector, WebParts
from channels.wechat.settings import WeChatSection
from channels.wecom.settings import WeComSettings
from intake.runtime import Runtime

if TYPE_CHECKING:
    from channels.email.connector import EmailParts
    from channels.sms.connector import SmsParts
    from channels.wechat.connector import WeChatParts
    from channels.wecom.connector import WeComParts

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
    return WebConnector(web_parts(runtime))


def web_parts(runtime: Runtime) -> WebParts:
    return WebParts(
        gateway=runtime.gateway,
        db=runtime.db,
        catalog=runtime.catalog,
        limiter=runtime.limiter,
        attachments=runtime.attachments,
        clock=runtime.clock,
        secret_key=runtime.secret_key,
        answers=runtime.answers,
        http=runtime.settings.http,
        web=runtime.settings.web,
    )


# Each channel's package is imported only when its section is set.


def _wechat(runtime: Runtime, sections: ChannelSections) -> Connector | None:
    if sections.wechat is None:
        return None
    from channels.wechat.connector import build

    return build(wechat_parts(runtime), sections.wechat)


def wechat_parts(runtime: Runtime) -> WeChatParts:
    from channels.wechat.connector import WeChatParts

    return WeChatParts(
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        gateway=runtime.gateway,
        clock=runtime.clock,
        db=runtime.db,
        attachments=runtime.attachments,
        limiter=runtime.limiter,
        triage=runtime.triage.triage if runtime.triage else None,
        catalog=runtime.settings.catalog,
        max_attachment_bytes=runtime.settings.web.max_attachment_bytes,
    )


def _sms(runtime: Runtime, sections: ChannelSections) -> Connector | None:
    if sections.sms is None:
        return None
    from channels.sms.connector import build

    return build(sms_parts(runtime), sections.sms)


def sms_parts(runtime: Runtime) -> SmsParts:
    from channels.sms.connector import SmsParts

    return SmsParts(
        gateway=runtime.gateway,
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        clock=runtime.clock,
        http=runtime.settings.http,
    )


def _email(runtime: Runtime, sections: ChannelSections) -> Connector | None:
    if sections.email is None:
        return None
    from channels.email.connector import build

    return build(email_parts(runtime), sections.email)


def email_parts(runtime: Runtime) -> EmailParts:
    from channels.email.connector import EmailParts

    return EmailParts(
        gateway=runtime.gateway,
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        clock=runtime.clock,
        attachments=runtime.attachments,
    )


def _telegram(runtime: Runtime, sections: ChannelSections) -> Connector | None:
    if sections.telegram is None:
        return None
    from channels.telegram.connector import TelegramParts, build

    parts = TelegramParts(
        gateway=runtime.gateway,
        redis=runtime.redis.client,
        # the configured URL keeps its credentials, which `RedisHandle.url` leaves out
        redis_url=runtime.settings.redis_url or runtime.redis.url,
        keys=runtime.redis.keys,
        clock=runtime.clock,
        db=runtime.db,
        catalog=runtime.catalog,
        relay=runtime.relay,
        limiter=runtime.limiter,
        attachments=runtime.attachments,
        catalog_files=runtime.settings.catalog,
        answers=runtime.answers,
    )
    return build(parts, sections.telegram)


def _wecom(runtime: Runtime, sections: ChannelSections) -> Connector | None:
    if sections.wecom is None:
        return None
    from channels.wecom.connector import build

    return build(wecom_parts(runtime), sections.wecom)


def wecom_parts(runtime: Runtime) -> WeComParts:
    from channels.wecom.connector import WeComParts

    return WeComParts(
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        db=runtime.db,
        catalog=runtime.catalog,
        clock=runtime.clock,
        relay=runtime.relay,
        public_url=runtime.settings.public_url,
    )


REGISTRY: dict[str, Factory] = {
    "web": _web,
    "wechat": _wechat,
    "sms": _sms,
    "email": _email,
    "telegram": _telegram,
    "wecom": _wecom,  # staff alerts and card taps (企业微信)
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
