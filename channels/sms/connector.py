"""The SMS gateway's callbacks inside the service, and the SMS sender for the notifier.

`GET /channels/sms/kannel` is Kannel's get-url: the message is made durable on the intake
stream and Kannel gets an empty 200 at once (configure the sms-service with
`max-messages = 0` so that Kannel itself sends nothing back); Kannel's retries carry the same
gateway id and never make a second ticket. `GET /channels/sms/dlr` receives delivery reports,
which are put on a stream for the notifier to record against its deliveries
(`notifier.delivery_reports`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from channels.base import BackgroundTask, Sender
from channels.sms import SmsSettings, build_sender, parse_dlr_request
from channels.sms.dlr import report_fields
from channels.sms.kannel_in import parse_mo_request
from intake.api.client_ip import client_ip
from intake.config import HttpSettings
from intake.domain.clock import Clock
from intake.domain.phones import mask_phone as mask
from intake.interfaces import IntakeGateway
from intake.ratelimit.buckets import RedisTokenBucket
from intake.redis.keys import Keys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SmsParts:
    """What the SMS channel uses of the core, handed over by the composition root."""

    gateway: IntakeGateway
    redis: aioredis.Redis
    keys: Keys
    clock: Clock
    http: HttpSettings  # its trusted proxies say who the gateway is


class SmsConnector:
    name = "sms"
    # Kannel's queries carry raw bytes (UTF-16 text, `%00`): parsed here, not by the URL guard
    raw_query_paths = ("/channels/sms/kannel", "/channels/sms/dlr")

    def __init__(self, parts: SmsParts, settings: SmsSettings) -> None:
        self._parts = parts
        self._settings = settings
        limiter = RedisTokenBucket(
            parts.redis,
            parts.keys.bucket("gateway:sms"),
            rate=settings.rate_per_second,
            burst=settings.burst,
        )
        self._sender = build_sender(settings, limiter=limiter)
        # each callback holds a pooled Redis connection, and the pool refuses (not waits) when
        # it is exhausted: a burst from the gateway queues here instead of failing
        self._inflight = asyncio.Semaphore(settings.max_inflight_callbacks)

    def sender(self) -> Sender | None:
        return self._sender

    def background_tasks(self) -> list[BackgroundTask]:
        return []

    def router(self) -> APIRouter:
        router = APIRouter(tags=["channels"])
        router.add_api_route(
            "/channels/sms/kannel",
            self.mo,
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="Kannel get-url (MO)",
        )
        router.add_api_route(
            "/channels/sms/dlr",
            self.dlr,
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="Delivery reports",
        )
        return router

    async def mo(self, request: Request) -> PlainTextResponse:
        message = parse_mo_request(
            request.scope["query_string"],
            _ip(request, self._parts.http),
            self._settings,
            now=self._parts.clock(),
        )
        async with self._inflight:
            receipt = await self._parts.gateway.submit(message)
        log.info(
            "sms mo id=%s from=%s duplicate=%s",
            message.external_id,
            mask(message.sender.value),
            receipt.duplicate,
        )
        return PlainTextResponse("")

    async def dlr(self, request: Request) -> PlainTextResponse:
        report = parse_dlr_request(
            request.scope["query_string"],
            _ip(request, self._parts.http),
            self._settings,
            now=self._parts.clock(),
        )
        async with self._inflight:
            await self._parts.redis.xadd(
                self._parts.keys.delivery_reports,
                report_fields(report),
                maxlen=1_000_000,
                approximate=True,
            )
        log.info(
            "sms dlr ref=%s status=%d state=%s to=%s",
            report.ref,
            report.status,
            report.state.value,
            mask(report.to),
        )
        return PlainTextResponse("")


def _ip(request: Request, http: HttpSettings) -> str:
    """Kannel's address, as `intake.api.client_ip` believes it (behind a trusted proxy too)."""
    return client_ip(request.scope, http.trusted_proxies) or ""


def build(parts: SmsParts, settings: SmsSettings) -> SmsConnector:
    """The connector of the `INTAKE_SMS__*` section, validated at start-up."""
    return SmsConnector(parts, settings)
