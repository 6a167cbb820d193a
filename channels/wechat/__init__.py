"""WeChat official account (公众号) channel: the edge parts.

The route calls `WeChatEndpoint`/`WeChatEndpoints` (verify, decrypt, parse, reply); the
notifier uses `WeChatSender`; the core reports inbound traffic to `WeChatSender.observe`.
New requests that lack a place or a phone go through the guided conversation (`dialog`,
rules in `dialog.yaml`); voice and image media are downloaded in the background (`media`).
"""

from __future__ import annotations

from .api import WeChatApiClient, WeChatApiError, WeChatUnavailable
from .endpoint import WeChatEndpoint, WeChatEndpoints
from .parse import CHANNEL, to_inbound
from .replies import SUCCESS, ReplyContext
from .sender import WeChatSender
from .settings import WeChatAccount, WeChatSettings, WeChatTemplate
from .window import ServiceWindow

__all__ = [
    "CHANNEL",
    "SUCCESS",
    "ReplyContext",
    "ServiceWindow",
    "WeChatAccount",
    "WeChatApiClient",
    "WeChatApiError",
    "WeChatEndpoint",
    "WeChatEndpoints",
    "WeChatSender",
    "WeChatSettings",
    "WeChatTemplate",
    "WeChatUnavailable",
    "to_inbound",
]
