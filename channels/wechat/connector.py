"""The WeChat server URL inside the service: verify, parse, hand to the core, answer in time.

A push is made durable first (the gateway dedupes WeChat's retries by MsgId), then the route
waits for the pipeline's outcome a bounded time (well inside WeChat's five seconds) and answers
with a passive reply. Every retry of one MsgId reads the same stored outcome, so it gets the
same answer; if the outcome is late the route answers `success` and the citizen hears back
through the notifier instead. A new request that lacks what a handler needs goes to the guided
conversation (the core's `intake.guided`) instead, which answers with its question at once. A
passive reply that carries a new ticket's number marks the notifier's acknowledgement as sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Protocol
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from redis.asyncio import Redis

from channels.base import BackgroundTask, Receipt, Sender
from channels.wechat.endpoint import WeChatEndpoints
from channels.wechat.media import MediaFetcher
from channels.wechat.menu_pics import PictureLinks
from channels.wechat.replay import NonceLedger, pushed_content
from channels.wechat.sender import WeChatSender
from channels.wechat.settings import ChannelOptions, WeChatSection, WeChatSettings
from intake.api.fast_lanes import FastRoute, LaneAnswer, LaneRequest
from intake.config import CatalogSettings
from intake.domain.clock import Clock
from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind
from intake.guided import DraftStore, GuidedCatalogue, GuidedRequests, Screen, Step
from intake.guided.catalogue import operator_copy
from intake.guided.known_phone import phone_on_file
from intake.ingest.attachments import AttachmentStore
from intake.ingest.outcome_waiter import OutcomeWaiter
from intake.ingest.outcomes import Outcome
from intake.ingest.replies import Replies
from intake.ingest.send_state import SendState, mark_carried, mark_passive_ack
from intake.interfaces import IntakeGateway
from intake.ratelimit.attempts import Limiter
from intake.redis.keys import Keys
from intake.storage.database import Database
from intake.triage.engine import Triage

log = logging.getLogger(__name__)

MENU_MY_REQUESTS = frozenset({"my_requests", "MY_REQUESTS", "查询"})
MENU_FILE_REQUEST = frozenset({"file_request", "FILE_REQUEST"})
CHANNEL = "wechat"
_KEPT_ONLY = (MessageKind.EVENT, MessageKind.UNKNOWN)


class GuardedGateway(IntakeGateway, Protocol):
    """The core's gateway with the guarded submission a conversation in progress needs."""

    async def submit_unless(self, message: InboundMessage, guards: list[str]) -> Receipt | None: ...


@dataclass(frozen=True, slots=True)
class WeChatParts:
    """What the WeChat connector uses of the core, and nothing more."""

    redis: Redis
    keys: Keys
    gateway: GuardedGateway
    clock: Clock
    db: Database  # known phones (guided requests) and the attachment rows of fetched media
    attachments: AttachmentStore
    limiter: Limiter
    triage: Triage | None  # screens chats for the guided conversation; None: triage is off
    catalog: CatalogSettings  # the operator's replies and guided-request catalogue
    max_attachment_bytes: int


class WeChatConnector:
    name = "wechat"

    def __init__(
        self, parts: WeChatParts, settings: WeChatSettings, *, options: ChannelOptions | None = None
    ) -> None:
        self._gateway, self._clock = parts.gateway, parts.clock
        self._options = options or ChannelOptions()
        self._endpoints = WeChatEndpoints(settings.accounts)
        self._max_body = max(account.max_body_bytes for account in settings.accounts)
        redis, keys = parts.redis, parts.keys
        self._nonces = NonceLedger(
            redis,
            keys=keys,
            max_age=max(account.max_timestamp_age for account in settings.accounts),
        )
        self._sender = WeChatSender.from_accounts(settings.accounts, redis=redis, keys=keys)
        self._replies = Replies.load(parts.catalog.replies_file)
        self._wait = self._options.reply_wait_s
        self._acks = SendState(redis, keys=keys)
        self._waiter = OutcomeWaiter(redis, keys, settle=self._mark_answered)
        self.dialog = _dialog(parts, self._options) if self._options.dialog.enabled else None
        self.media = _media(parts, self._sender) if self._options.fetch_media else None
        self._pictures = PictureLinks(redis, keys=keys)

    def sender(self) -> Sender | None:
        return self._sender

    def background_tasks(self) -> list[BackgroundTask]:
        """The sweep that files timed-out conversations, and the media downloader."""
        tasks: list[BackgroundTask] = []
        if self.dialog is not None:
            tasks.append(partial(self.dialog.run, interval_s=self._options.dialog.sweep_interval))
        if self.media is not None:
            tasks.append(self.media.run)
        return tasks

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

    def fast_routes(self) -> list[FastRoute]:
        return [FastRoute("POST", "/channels/wechat", self._push_lane, max_body=self._max_body)]

    async def push(self, request: Request) -> Response:
        body, media = await self._handle_push(dict(request.query_params), await request.body())
        return Response(body, media_type=media)

    async def _push_lane(self, request: LaneRequest) -> LaneAnswer:
        query = request.query_string.decode("latin-1")
        body, media = await self._handle_push(
            dict(parse_qsl(query, keep_blank_values=True)), request.body
        )
        # as Starlette's Response labels it: text types carry their charset
        content_type = f"{media}; charset=utf-8" if media.startswith("text/") else media
        return LaneAnswer(200, body, content_type)

    async def _handle_push(self, params: dict[str, str], raw: bytes) -> tuple[bytes, str]:
        """The passive reply to one push, and its media type."""
        started = time.monotonic()
        endpoint = self._endpoints.select(params)
        message, context = endpoint.open_post(params, raw, received_at=self._clock())
        await self._nonces.admit(
            app_id=endpoint.app_id,
            timestamp=params["timestamp"],
            nonce=params["nonce"],
            content=pushed_content(params, raw, message),
        )
        # the window note goes with other pushes' notes in one call, while this one is answered
        observed = asyncio.ensure_future(self._sender.observe(message))
        try:
            message = await self._pictures.link(message)
            if self.media is not None:
                await self.media.enqueue(message)
            text = await self._answer(message, started)
        finally:
            await observed
        body = endpoint.render_reply(context, text)
        return body, "application/xml" if body.startswith(b"<") else "text/plain"

    async def _answer(self, message: InboundMessage, started: float) -> str | None:
        event = message.fields.get("event")
        key = str(message.fields.get("event_key") or "")
        receipt: Receipt | None = None
        if event == "click" and key in MENU_MY_REQUESTS:
            message = dataclasses.replace(message, kind=MessageKind.TEXT, text="查询")
            await self._gateway.submit(message)
        elif self.dialog is not None and message.kind not in _KEPT_ONLY:
            guards = self.dialog.guards(message)
            # most messages have no conversation to join: submitted at once, unless one exists
            if guards is not None:
                receipt = await self._gateway.submit_unless(message, guards)
            if receipt is None:
                step = await self.dialog.on_message(message)
                if step is not None:
                    return await self._say(step, started)
                receipt = await self._gateway.submit(message)
        else:
            receipt = await self._gateway.submit(message)
        emergency = receipt.emergency if receipt else None
        if event == "subscribe":
            return self._replies.text("welcome")
        if event == "click" and key in MENU_FILE_REQUEST:
            if self.dialog is None:
                return self._replies.text("file_request")
            return await self._say(await self.dialog.on_menu(message), started)
        if message.kind in _KEPT_ONLY:
            return None
        outcome = await self._outcome(message.external_id, started)
        if outcome is None:
            log.warning(
                "wechat external_id=%s: no outcome within %.1f s; answering later",
                message.external_id,
                self._wait,
            )
            return self._replies.with_emergency(None, emergency)
        return self._replies.with_emergency(self._replies.for_outcome(outcome), emergency)

    async def _mark_answered(self, outcomes: list[Outcome]) -> None:
        """What the passive replies are about to carry (a new ticket's number, an answer
        given at once) is not sent again by the notifier: marked before the replies go out."""
        await mark_carried(self._acks, outcomes=outcomes, channel=CHANNEL)

    async def _say(self, step: Step, started: float) -> str | None:
        """A conversation step's answer: its question, or the number it was filed as."""
        if step.filed is None or step.number is None:
            return step.text
        await mark_passive_ack(self._acks, number=step.number, channel=CHANNEL)
        outcome = await self._outcome(step.filed, started)
        text = self._replies.for_outcome(outcome) if outcome else None
        text = text or self._replies.acknowledgement(step.number, step.query_code)
        return self._replies.with_emergency(text, EmergencyAdvice.from_dict(step.emergency))

    async def _outcome(self, external_id: str, started: float) -> Outcome | None:
        return await self._waiter.wait(
            channel=CHANNEL,
            external_id=external_id,
            within_s=max(0.0, self._wait - (time.monotonic() - started)),
        )


def _dialog(parts: WeChatParts, options: ChannelOptions) -> GuidedRequests:
    """The core's guided requests as WeChat's conversation: its questions in Chinese."""
    config = options.dialog
    catalogue = GuidedCatalogue.load(config.rules_file or operator_copy(parts.catalog))
    return GuidedRequests(
        catalogue=catalogue,
        store=DraftStore(parts.redis, parts.keys, channel=CHANNEL),
        gateway=parts.gateway,
        clock=parts.clock,
        channel=CHANNEL,
        timeout_s=config.timeout,
        screen=Screen(catalogue, parts.triage),
        known_phone=partial(phone_on_file, parts.db, IdentityKind.WECHAT.value),
        limiter=parts.limiter,
    )


def _media(parts: WeChatParts, sender: WeChatSender) -> MediaFetcher:
    return MediaFetcher(
        redis=parts.redis,
        keys=parts.keys,
        clients=sender.clients,
        store=parts.attachments,
        db=parts.db,
        max_bytes=parts.max_attachment_bytes,
    )


def build(parts: WeChatParts, section: WeChatSection) -> WeChatConnector | None:
    """The connector of the `INTAKE_WECHAT__*` section, validated at start-up; None while it
    names no account (options alone)."""
    if not section.accounts:
        return None
    return WeChatConnector(parts, section.settings, options=section.options)
