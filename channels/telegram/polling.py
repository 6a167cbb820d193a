"""Long polling, for deployments without a public HTTPS URL for the webhook.

Telegram refuses getUpdates while a webhook is set, so the poller deletes it first (keeping
pending updates). Confirming an update (the next offset) is done only after handling it; a
handler failure is logged and the update is not retried, so one bad update cannot stall the
chat. Run it in exactly one process: Telegram answers a second concurrent poller with 409.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update

from channels.telegram.bot import TelegramBot
from intake.cancellation import stop_if_cancelled

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BACKOFF_S = 60.0


class Poller:
    def __init__(self, app: TelegramBot, *, timeout_s: int) -> None:
        self._app = app
        self._timeout = timeout_s
        self.offset: int | None = None

    async def run(self) -> None:
        """Poll until cancelled."""
        await self._app.bot.delete_webhook(drop_pending_updates=False)
        delay = 1.0
        while True:
            stop_if_cancelled()
            try:
                updates = await self.fetch()
            except TelegramAPIError as exc:
                log.warning("telegram getUpdates: %s; again in %.0f s", exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            delay = 1.0
            for update in updates:
                await self.process(update)

    async def fetch(self) -> list[Update]:
        return await self._app.bot.get_updates(
            offset=self.offset,
            timeout=self._timeout,
            allowed_updates=ALLOWED_UPDATES,
            request_timeout=self._timeout + 10,
        )

    async def process(self, update: Update) -> None:
        try:
            await self._app.handle(update)
        except Exception:
            log.exception("telegram update=%s failed; skipped", update.update_id)
        self.offset = update.update_id + 1
