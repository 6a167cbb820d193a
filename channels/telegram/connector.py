"""The Telegram channel inside the service: webhook route, link route, poller and sender.

`POST /channels/telegram` checks Telegram's secret-token header in constant time, then hands
the update to the bot and answers 200 once it is handled (a failure answers 500 and frees the
update, so Telegram's redelivery is handled again; a repeat of a handled update is skipped).
Handling includes waiting a few seconds for the pipeline's outcome so that the citizen gets
the ticket number in the chat, well inside Telegram's webhook timeout.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from channels.base import BackgroundTask, Sender
from channels.telegram.bot import TelegramBot
from channels.telegram.link_routes import link_router
from channels.telegram.parts import TelegramParts
from channels.telegram.polling import Poller
from channels.telegram.sender import TelegramSender
from channels.telegram.settings import TelegramSettings
from intake.domain.errors import Forbidden, InvalidInput

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramConnector:
    name = "telegram"

    def __init__(self, parts: TelegramParts, settings: TelegramSettings) -> None:
        self.settings = settings
        self.app = TelegramBot(parts, settings)
        self._redis = parts.redis
        self._keys = parts.keys
        self._sender = TelegramSender(self.app.bot)

    def sender(self) -> Sender | None:
        return self._sender

    def poller(self) -> Poller:
        return Poller(
            self.app, timeout_s=self.settings.polling_timeout, redis=self._redis, keys=self._keys
        )

    def background_tasks(self) -> list[BackgroundTask]:
        return [self.poller().run] if self.settings.mode == "polling" else []

    def router(self) -> APIRouter:
        router = APIRouter(tags=["channels"])
        router.add_api_route(
            "/channels/telegram", self.webhook, methods=["POST"], summary="Telegram webhook"
        )
        router.include_router(link_router(self.app.links))
        return router

    async def webhook(self, request: Request) -> JSONResponse:
        self._check_secret(request.headers.get(SECRET_HEADER))
        try:
            data = await request.json()
            update = self.app.parse(data if isinstance(data, dict) else {})
        except (ValueError, ValidationError) as exc:
            raise InvalidInput("telegram: not an Update") from exc
        await self.app.handle(update)
        return JSONResponse({"ok": True})

    def _check_secret(self, given: str | None) -> None:
        expected = self.settings.secret_token
        if expected is None or given is None:
            raise Forbidden("telegram: secret token missing")
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            log.warning("telegram webhook refused: wrong secret token")
            raise Forbidden("telegram: wrong secret token")

    async def aclose(self) -> None:
        """Close the Bot API session and the FSM storage's Redis pool."""
        await self.app.close()


def build(parts: TelegramParts, settings: TelegramSettings) -> TelegramConnector:
    """The connector of the `INTAKE_TELEGRAM__*` section, validated at start-up."""
    return TelegramConnector(parts, settings)
