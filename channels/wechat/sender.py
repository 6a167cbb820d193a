"""Outbound WeChat delivery for the notifier: customer-service text, else a template message.

A customer-service message is the natural answer while the citizen's 48-hour window is open;
outside it only an approved template can reach them. When neither can (window closed and no
template, unsubscribed, blocked), the sender raises `UnreachableError` so that the notifier
falls back to SMS, instead of retrying something WeChat will never accept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from channels.base import OutboundMessage, SendResult
from intake.domain.errors import PermanentSendError, SendError, TransientSendError, UnreachableError
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind
from intake.redis.keys import Keys

from .api import WeChatApiClient, WeChatApiError, WeChatUnavailable
from .settings import WeChatAccount, WeChatTemplate
from .window import ServiceWindow

log = logging.getLogger(__name__)

CUSTOM_SEND = "/cgi-bin/message/custom/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
UNREACHABLE = frozenset({45015, 45047, 43004, 43101})
WINDOW_CLOSED = frozenset({45015, 45047})
TRANSIENT = frozenset({-1, 45009, 45011})
NOT_FOLLOWING = 43004


class WeChatSender:
    """The `Sender` of the "wechat" channel, for every configured account."""

    channel = "wechat"

    def __init__(self, clients: Mapping[str, WeChatApiClient], window: ServiceWindow) -> None:
        self._clients = dict(clients)
        self.window = window

    @classmethod
    def from_accounts(
        cls,
        accounts: Iterable[WeChatAccount],
        *,
        redis: Redis,
        keys: Keys,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> WeChatSender:
        """Build one API client per account, sharing Redis (tokens, windows) and httpx."""
        clients = {
            a.app_id: WeChatApiClient(a, redis=redis, keys=keys, http=http) for a in accounts
        }
        return cls(clients, ServiceWindow(redis, keys=keys, clock=clock))

    @property
    def clients(self) -> Mapping[str, WeChatApiClient]:
        """The API client of each account, by app id (shared with the media fetcher)."""
        return self._clients

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def note_user_message(self, openid: str, account: str, at: datetime) -> None:
        """Call when a citizen's message arrives: opens the window with a fresh quota of 5."""
        await self.window.note_user_message(openid, account, at)

    async def mark_unsubscribed(self, openid: str, account: str) -> None:
        await self.window.mark_unsubscribed(openid, account)

    async def mark_subscribed(self, openid: str, account: str) -> None:
        await self.window.mark_subscribed(openid, account)

    async def is_unsubscribed(self, openid: str, account: str) -> bool:
        return await self.window.is_unsubscribed(openid, account)

    async def observe(self, message: InboundMessage) -> None:
        """One hook for the core: update window/subscription state from any inbound push."""
        if message.channel != self.channel:
            return
        openid, account = message.sender.value, message.sender.account
        if message.kind is MessageKind.EVENT:
            event = message.fields.get("event")
            if event == "unsubscribe":
                await self.mark_unsubscribed(openid, account)
            elif event == "subscribe":
                await self.mark_subscribed(openid, account)
            return
        if message.kind is not MessageKind.UNKNOWN:
            await self.note_user_message(openid, account, message.received_at)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Customer-service text inside the window, else a template; raise a SendError."""
        client, openid, account = self._route(message)
        if await self.window.is_unsubscribed(openid, account):
            raise UnreachableError("wechat: the citizen has unsubscribed")
        if await self.window.consume(openid, account):
            try:
                return await self._send_custom(client, openid, message)
            except WeChatApiError as exc:
                if exc.errcode not in WINDOW_CLOSED:
                    await self.window.refund(openid, account)
                    raise _mapped(exc) from None
                log.info("wechat window closed for a recipient (errcode %s)", exc.errcode)
                await self.window.close(openid, account)
            except WeChatUnavailable as exc:
                raise _mapped(exc) from None
        return await self._send_template(client, openid, message)

    def _route(self, message: OutboundMessage) -> tuple[WeChatApiClient, str, str]:
        recipient = message.recipient
        if recipient.kind is not IdentityKind.WECHAT or not recipient.value:
            raise PermanentSendError("wechat: the recipient is not a WeChat identity")
        client = self._clients.get(recipient.account)
        if client is None:
            raise PermanentSendError("wechat: the recipient's account is not configured")
        return client, recipient.value, recipient.account

    async def _send_custom(
        self, client: WeChatApiClient, openid: str, message: OutboundMessage
    ) -> SendResult:
        if not message.text:
            raise PermanentSendError("wechat: empty customer-service message")
        payload = {"touser": openid, "msgtype": "text", "text": {"content": message.text}}
        result = await client.post(CUSTOM_SEND, payload)
        return SendResult(provider_id=_msgid(result), detail="custom")

    async def _send_template(
        self, client: WeChatApiClient, openid: str, message: OutboundMessage
    ) -> SendResult:
        name = message.template or client.account.default_template
        template = client.account.templates.get(name) if name else None
        if template is None:
            raise UnreachableError("wechat: outside the 48-hour window and no template to use")
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template.template_id,
            "data": template_data(template, message),
        }
        url = message.params.get("url") or template.url
        if url:
            payload["url"] = str(url)
        try:
            result = await client.post(TEMPLATE_SEND, payload)
        except (WeChatApiError, WeChatUnavailable) as exc:
            if isinstance(exc, WeChatApiError) and exc.errcode == NOT_FOLLOWING:
                await self.window.mark_unsubscribed(openid, client.account.app_id)
            raise _mapped(exc) from None
        return SendResult(provider_id=_msgid(result), detail="template")


def template_data(template: WeChatTemplate, message: OutboundMessage) -> dict[str, dict[str, str]]:
    """Fill the template's data keys from the message, as the account's mapping says."""
    sources: dict[str, Any] = {
        "text": message.text,
        "ticket_number": message.ticket_number,
        "subject": message.subject,
        **message.params,
    }
    missing = sorted({src for src in template.fields.values() if sources.get(src) is None})
    if missing:
        raise PermanentSendError(f"wechat: template values missing: {', '.join(missing)}")
    return {key: {"value": str(sources[src])} for key, src in template.fields.items()}


def _mapped(exc: WeChatApiError | WeChatUnavailable) -> SendError:
    if isinstance(exc, WeChatUnavailable):
        return TransientSendError(str(exc))
    if exc.errcode in UNREACHABLE:
        return UnreachableError(str(exc))
    if exc.errcode in TRANSIENT:
        return TransientSendError(str(exc), retry_after=60.0 if exc.errcode != -1 else None)
    return PermanentSendError(str(exc))


def _msgid(result: Mapping[str, Any]) -> str | None:
    msgid = result.get("msgid")
    return None if msgid is None else str(msgid)
