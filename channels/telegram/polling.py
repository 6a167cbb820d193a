"""Long polling, for deployments without a public HTTPS URL for the webhook.

Telegram refuses getUpdates while a webhook is set, so the poller deletes it first (keeping
pending updates), retrying until the Bot API answers. Confirming an update (the next offset)
is done only after handling it. An update whose handling met an outage (Redis, the database,
the Bot API unreachable) is not skipped: it is handled again after a backoff, the outage
logged once. One that fails for any other reason is kept in the dead-letter stream with its
reason (`intake deadletter list`) and skipped, so one bad update cannot stall the chat.
Run it in exactly one process: Telegram answers a second concurrent poller with 409.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
import redis.asyncio as aioredis
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import Update

from channels.telegram.bot import TelegramBot
from channels.telegram.inbound import CHANNEL, identity, raw_of
from intake.cancellation import stop_if_cancelled
from intake.domain.clock import utcnow
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_outage

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BACKOFF_S = 60.0

T = TypeVar("T")


def retryable(exc: BaseException) -> bool:
    """An outage of our servers or of the way to Telegram: the update is handled again."""
    return is_outage(exc) or isinstance(exc, TelegramNetworkError)


class Poller:
    def __init__(
        self,
        app: TelegramBot,
        *,
        timeout_s: int,
        redis: aioredis.Redis | None = None,
        keys: Keys | None = None,
    ) -> None:
        self._app = app
        self._timeout = timeout_s
        # for the dead letters; without them a failed update is only logged
        self._redis = redis
        self._keys = keys
        self.offset: int | None = None
        self.outages = OutageGuard("telegram poller", logger=log, cap=MAX_BACKOFF_S)
        self.dead_lettered = 0

    async def run(self) -> None:
        """Poll until cancelled."""
        await self._until_through(
            lambda: self._app.bot.delete_webhook(drop_pending_updates=False), "deleteWebhook"
        )
        while True:
            stop_if_cancelled()
            updates = await self._until_through(self.fetch, "getUpdates")
            for update in updates:
                await self.process(update)

    async def _until_through(self, call: Callable[[], Awaitable[T]], name: str) -> T:
        """A Bot API call, again after a backoff while Telegram errs or cannot be reached."""
        while True:
            stop_if_cancelled()
            try:
                result = await call()
            except TelegramAPIError as exc:
                log.debug("telegram %s: %s", name, exc.message)
                await self.outages.pause(exc)
                continue
            self.outages.ok()
            return result

    async def fetch(self) -> list[Update]:
        return await self._app.bot.get_updates(
            offset=self.offset,
            timeout=self._timeout,
            allowed_updates=ALLOWED_UPDATES,
            request_timeout=self._timeout + 10,
        )

    async def process(self, update: Update) -> None:
        """Handle one update until it is done or dead-lettered; then confirm it."""
        retrying = False
        while True:
            stop_if_cancelled()
            try:
                if retrying:  # a claim left behind by the failed try (Redis was away)
                    await self._app.gate.release(update.update_id)
                await self._app.handle(update)
                self.outages.ok()
                break
            except Exception as exc:
                if retryable(exc):
                    retrying = True
                    await self.outages.pause(exc)
                    continue
                log.exception("telegram update=%s failed; dead-lettered", update.update_id)
                if not await self._bury(update, exc):
                    retrying = True
                    continue  # Redis went away meanwhile: handled again once it is back
                break
        self.offset = update.update_id + 1

    async def _bury(self, update: Update, exc: Exception) -> bool:
        """Keep the update with its reason (visible in `intake deadletter list`); False if
        Redis could not take it."""
        self.dead_lettered += 1
        if self._redis is None or self._keys is None:
            return True
        message = InboundMessage(
            channel=CHANNEL,
            external_id=str(update.update_id),
            sender=_sender(update),
            kind=MessageKind.UNKNOWN,
            received_at=utcnow(),
            raw=raw_of(update),
        )
        fields = {
            "msg": orjson.dumps(message.to_dict()).decode(),
            "_original_id": f"telegram:{update.update_id}",
            "_reason": f"telegram update failed: {type(exc).__name__}",
            "_failed_at": utcnow().isoformat(),
            "_attempts": "1",
        }
        try:
            await self._redis.xadd(self._keys.deadletter, fields)
        except Exception as bury_exc:
            if not is_outage(bury_exc):
                raise
            await self.outages.pause(bury_exc)
            return False
        return True


def _sender(update: Update) -> SenderIdentity:
    if update.message is not None:
        return identity(update.message)
    return SenderIdentity(kind=IdentityKind.TELEGRAM, value="")
