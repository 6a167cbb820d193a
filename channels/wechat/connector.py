"""The WeChat server URL inside the service: verify, parse, hand to the core, answer in time.

A push is made durable first (the gateway dedupes WeChat's retries by MsgId), then the route
waits for the pipeline's outcome a bounded time (well inside WeChat's five seconds) and answers
with a passive reply. Every retry of one MsgId reads the same stored outcome, so it gets the
same answer; if the outcome is late the route answers `success` and the citizen hears back
through the notifier instead.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from channels.base import BackgroundTask, Sender
from channels.wechat.endpoint import WeChatEndpoints
from channels.wechat.sender import WeChatSender
from channels.wechat.settings import WeChatAccount, WeChatSettings
from intake.errors import ConfigurationError
from intake.messages import InboundMessage, MessageKind
from intake.outcomes import wait_for_outcome
from intake.replies import Replies
from intake.runtime import Runtime

log = logging.getLogger(__name__)

MENU_MY_REQUESTS = frozenset({"my_requests", "MY_REQUESTS", "查询"})
MENU_FILE_REQUEST = frozenset({"file_request", "FILE_REQUEST"})


def wechat_settings(raw: dict[str, Any]) -> WeChatSettings | None:
    """One account from `INTAKE_WECHAT__*`, or several from the config file's `accounts`."""
    if not raw:
        return None
    try:
        if "accounts" in raw:
            return WeChatSettings(accounts=raw["accounts"])
        if not raw.get("app_id"):
            return None
        flat = {k: v for k, v in raw.items() if k != "reply_wait_s"}
        return WeChatSettings(accounts=[WeChatAccount(**flat)])
    except ValueError as exc:
        raise ConfigurationError(f"WeChat settings: {exc}") from exc


class WeChatConnector:
    name = "wechat"

    def __init__(
        self, runtime: Runtime, settings: WeChatSettings, *, reply_wait_s: float = 4.0
    ) -> None:
        self._runtime = runtime
        self._endpoints = WeChatEndpoints(settings.accounts)
        self._sender = WeChatSender.from_accounts(
            settings.accounts, redis=runtime.redis.client, key_prefix=runtime.redis.keys.prefix
        )
        self._replies = Replies.load(runtime.settings.catalog.replies_file)
        self._wait = reply_wait_s

    def sender(self) -> Sender | None:
        return self._sender

    def background_tasks(self) -> list[BackgroundTask]:
        return []

    def router(self) -> APIRouter:
        router = APIRouter(tags=["channels"])
        router.add_api_route(
            "/channels/wechat",
            self.verify,
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="WeChat URL verification",
        )
        router.add_api_route(
            "/channels/wechat", self.push, methods=["POST"], summary="WeChat message and event push"
        )
        return router

    async def verify(self, request: Request) -> PlainTextResponse:
        params = dict(request.query_params)
        return PlainTextResponse(self._endpoints.select(params).verify_get(params))

    async def push(self, request: Request) -> Response:
        params = dict(request.query_params)
        endpoint = self._endpoints.select(params)
        message, context = endpoint.open_post(
            params, await request.body(), received_at=self._runtime.clock()
        )
        await self._sender.observe(message)
        text = await self._answer(message)
        body = endpoint.render_reply(context, text)
        media = "application/xml" if body.startswith(b"<") else "text/plain"
        return Response(body, media_type=media)

    async def _answer(self, message: InboundMessage) -> str | None:
        event = message.fields.get("event")
        key = str(message.fields.get("event_key") or "")
        if event == "click" and key in MENU_MY_REQUESTS:
            message = dataclasses.replace(message, kind=MessageKind.TEXT, text="查询")
        await self._runtime.gateway.submit(message)
        if event == "subscribe":
            return self._replies.text("welcome")
        if event == "click" and key in MENU_FILE_REQUEST:
            return self._replies.text("file_request")
        if message.kind in (MessageKind.EVENT, MessageKind.UNKNOWN):
            return None
        outcome = await wait_for_outcome(
            self._runtime.redis.client,
            self._runtime.redis.keys,
            channel=message.channel,
            external_id=message.external_id,
            within_s=self._wait,
        )
        if outcome is None:
            log.warning(
                "wechat external_id=%s: no outcome within %.1f s; answering later",
                message.external_id,
                self._wait,
            )
            return None
        return self._replies.for_outcome(outcome)


def build(runtime: Runtime) -> WeChatConnector | None:
    raw = runtime.settings.wechat
    settings = wechat_settings(raw)
    if settings is None or not settings.accounts:
        return None
    return WeChatConnector(runtime, settings, reply_wait_s=float(raw.get("reply_wait_s", 4.0)))
