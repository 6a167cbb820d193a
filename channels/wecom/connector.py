"""WeCom (企业微信) inside the service: the callback route and the two senders.

`build(parts, settings)` gives None when `INTAKE_WECOM__CORP_ID` is not set. The app's sender is
`sender()` (channel "wecom"); the department group robots' is `robot_sender()` (channel
"wecom_robot"). The callback route exists only when the callback's token and AES key are set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response
from redis.asyncio import Redis

from intake.catalog import Catalog
from intake.directory.department_alerts import robot_url
from intake.domain.clock import Clock
from intake.domain.errors import Forbidden, IntakeError
from intake.interfaces import Sender
from intake.redis.keys import Keys
from intake.storage.database import Database
from intake.storage.outbox import OutboxRelay

from .api import WeComClient
from .callback import CallbackCrypto, StaffActions, event_of, parse_tap, update_button_reply
from .robot import RobotSender
from .sender import WeComSender
from .settings import WeComSettings

log = logging.getLogger(__name__)

PATH = "/channels/wecom"


@dataclass(frozen=True, slots=True)
class WeComParts:
    """What the WeCom connector uses of the core, and nothing more."""

    redis: Redis  # the shared access token
    keys: Keys
    db: Database  # staff, tickets and the departments' robots
    catalog: Catalog
    clock: Clock
    relay: OutboxRelay  # publishes a tapped action's ticket events at once
    public_url: str  # the console's base when `console_url` is not set


class WeComConnector:
    name = "wecom"

    def __init__(self, parts: WeComParts, settings: WeComSettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(timeout=settings.timeout_seconds)
        self.client = WeComClient(settings, redis=parts.redis, keys=parts.keys, http=self._http)
        console = settings.console_url or f"{parts.public_url.rstrip('/')}/console"
        self._sender = WeComSender(self.client, console_url=console)
        self._robot = RobotSender(
            self._http, allowed_hosts=settings.robot_hosts, resolve=self._robot_url
        )
        self._db = parts.db
        self._crypto = CallbackCrypto(settings) if settings.callback_enabled else None
        relay = parts.relay

        async def flush(ticket_id: int) -> None:
            await relay.flush(ticket_id=ticket_id)

        self.actions = StaffActions(
            db=parts.db, catalog=parts.catalog, clock=parts.clock, flush=flush
        )

    def sender(self) -> Sender:
        return self._sender

    def robot_sender(self) -> Sender:
        return self._robot

    async def _robot_url(self, department: str) -> str | None:
        async with self._db.read() as session:
            return await robot_url(session, department)

    def background_tasks(self) -> list[Any]:
        return []

    async def aclose(self) -> None:
        await self._http.aclose()

    def router(self) -> APIRouter | None:
        if self._crypto is None:
            log.info("wecom callback disabled (no INTAKE_WECOM__TOKEN / __AES_KEY)")
            return None
        router = APIRouter(tags=["channels"])
        router.add_api_route(
            PATH,
            self.verify,
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="WeCom callback URL verification",
        )
        router.add_api_route(PATH, self.event, methods=["POST"], summary="WeCom callback events")
        return router

    async def verify(self, request: Request) -> Response:
        """WeCom's URL check: answer the decrypted `echostr` within one second."""
        assert self._crypto is not None
        params = dict(request.query_params)
        try:
            plain = self._crypto.open(params, params.get("echostr", ""))
        except Forbidden as exc:
            log.info("wecom verification refused: %s", exc)
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(plain)

    async def event(self, request: Request, background: BackgroundTasks) -> Response:
        assert self._crypto is not None
        params = dict(request.query_params)
        body = await request.body()
        try:
            event = event_of(
                self._crypto,
                params,
                body,
                self.settings.corp_id,
                max_bytes=self.settings.max_body_bytes,
            )
        except Forbidden as exc:
            log.info("wecom callback refused: %s", exc)
            return PlainTextResponse("forbidden", status_code=403)
        except IntakeError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        tap = parse_tap(event)
        if tap is None:
            return PlainTextResponse("")  # other messages and events: nothing to do
        if tap.action == "open":
            background.add_task(self._send_detail, tap.userid, tap.number)
            return PlainTextResponse("")
        label = await self.actions.accept(tap.userid, tap.number)
        reply = self._crypto.seal(update_button_reply(event, label), params.get("nonce", ""))
        return Response(reply, media_type="application/xml")

    async def _send_detail(self, userid: str, number: str) -> None:
        text = await self.actions.detail_for(userid, number)
        if text is None:
            return
        try:
            await self._sender.send_text(userid, text)
        except Exception as exc:  # a failed detail is not worth a retry: the user taps again
            log.info("wecom detail for %s not sent: %s", number, type(exc).__name__)


def build(parts: WeComParts, settings: WeComSettings) -> WeComConnector:
    """The connector of the `INTAKE_WECOM__*` section, validated at start-up."""
    return WeComConnector(parts, settings)
