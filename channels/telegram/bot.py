"""The bot as one object: aiogram Bot on the configured Bot API, Dispatcher, FSM in Redis.

FSM storage lives in the service's Redis (aiogram's RedisStorage, keys under
`Keys.telegram_fsm`) so that aiogram's Redis event isolation serialises one chat's updates
across processes; a guided request's steps are kept by the core (`intake.guided`), not in the FSM.
Every update passes the update gate first, whether it came by webhook or by polling.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Update

from channels.telegram.bridge import IntakeBridge
from channels.telegram.citizen import CitizenBot, guided_requests
from channels.telegram.files import FileFetcher
from channels.telegram.gate import HANDLING_TTL_S, Claim, UpdateGate
from channels.telegram.linking import LinkStore
from channels.telegram.parts import TelegramParts
from channels.telegram.rating import RatingButtons
from channels.telegram.settings import TelegramSettings
from channels.telegram.staff import StaffBot
from intake.domain.errors import Unavailable
from intake.redis.keys import Keys

log = logging.getLogger(__name__)


def make_bot(settings: TelegramSettings) -> Bot:
    """aiogram's Bot on the configured Bot API base (Telegram, a local server or a fake)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base))
    return Bot(token=settings.token.get_secret_value(), session=session)


def make_storage(url: str, keys: Keys) -> RedisStorage:
    """FSM storage on the service's Redis (its own pool, from `url`), under its key prefix."""
    builder = DefaultKeyBuilder(prefix=keys.telegram_fsm, with_bot_id=True)
    return RedisStorage.from_url(url, key_builder=builder, state_ttl=86_400, data_ttl=86_400)


class TelegramBot:
    def __init__(self, parts: TelegramParts, settings: TelegramSettings) -> None:
        redis, keys = parts.redis, parts.keys
        self.settings = settings
        self.bot = make_bot(settings)
        self.storage = make_storage(parts.redis_url, keys)
        self.gate = UpdateGate(
            redis, keys=keys, bot_id=settings.bot_id, ttl_s=settings.dedupe_ttl_s
        )
        self.links = LinkStore(redis, keys=keys, ttl_s=settings.link_code_ttl_s)
        bridge = IntakeBridge(
            gateway=parts.gateway,
            redis=redis,
            keys=keys,
            replies_file=parts.catalog_files.replies_file,
            wait_s=settings.reply_wait_s,
        )
        guided = guided_requests(
            gateway=parts.gateway,
            redis=redis,
            keys=keys,
            clock=parts.clock,
            limiter=parts.limiter,
            catalog_files=parts.catalog_files,
        )
        fetcher = FileFetcher(parts.attachments, max_bytes=settings.max_file_bytes)
        staff = StaffBot(
            db=parts.db,
            catalog=parts.catalog,
            clock=parts.clock,
            relay=parts.relay,
            links=self.links,
        )
        citizen = CitizenBot(
            guided=guided, clock=parts.clock, bridge=bridge, fetcher=fetcher, links=self.links
        )
        self.dispatcher = Dispatcher(
            storage=self.storage, events_isolation=self.storage.create_isolation()
        )
        self.dispatcher.include_routers(
            staff.router(), RatingButtons(answers=parts.answers).router(), citizen.router()
        )

    def parse(self, data: dict[str, Any]) -> Update:
        """An Update bound to our Bot (raises pydantic's ValidationError when malformed)."""
        return Update.model_validate(data, context={"bot": self.bot})

    async def handle(self, update: Update) -> bool:
        """Handle an update once; False for a repeat. A failure frees it for a retry; an
        update another caller is handling right now is refused with `Unavailable` (the
        webhook answers 503 and Telegram sends it again later)."""
        claim = await self.gate.claim(update.update_id)
        if claim is Claim.DONE:
            log.info("telegram update=%s seen before: skipped", update.update_id)
            return False
        if claim is Claim.BUSY:
            log.info("telegram update=%s is being handled: try again later", update.update_id)
            raise Unavailable("telegram update is being handled", retry_after=HANDLING_TTL_S)
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except BaseException:
            await self.gate.release(update.update_id)
            raise
        await self.gate.finish(update.update_id)
        return True

    async def close(self) -> None:
        await self.bot.session.close()
        await self.storage.close()
