"""The citizen side of the bot: /start, the guided request, /status, plain messages.

The guided request is the core's (`intake.guided`): /new opens a form (type → text → location
→ phone, as the catalogue orders them) kept in Redis, so any process can take the next step,
and the core files it as ONE message when the last step is answered. Here stays what is
Telegram's: fetching files, checking that a shared contact is the sender's own, and showing
each question with its keyboard. Anything sent outside a form goes to the core as it is; the
core decides whether it is a new request, a follow-up, a status query or a rating.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable
from typing import Any

import redis.asyncio as aioredis
from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart
from aiogram.types import Message, Update

from channels.telegram import keyboards, texts
from channels.telegram.bridge import CHANNEL, IntakeBridge
from channels.telegram.files import FileFetcher, file_of
from channels.telegram.inbound import identity, plain
from channels.telegram.linking import LinkStore
from intake.config import CatalogSettings
from intake.domain.clock import Clock
from intake.domain.errors import InvalidInput
from intake.domain.messages import VOUCHED_PHONE, Attachment, InboundMessage
from intake.domain.phones import normalize_phone
from intake.guided import DraftStore, GuidedCatalogue, GuidedRequests, Step
from intake.guided.catalogue import operator_copy
from intake.guided.form import FILE_STEPS
from intake.interfaces import IntakeGateway
from intake.ratelimit.attempts import Limiter
from intake.redis.keys import Keys

log = logging.getLogger(__name__)


def guided_requests(
    *,
    gateway: IntakeGateway,
    redis: aioredis.Redis,
    keys: Keys,
    clock: Clock,
    limiter: Limiter,
    catalog_files: CatalogSettings,
) -> GuidedRequests:
    """The core's guided requests as Telegram's form: questions in Chinese and English."""
    return GuidedRequests(
        catalogue=GuidedCatalogue.load(operator_copy(catalog_files)),
        store=DraftStore(redis, keys, channel=CHANNEL),
        gateway=gateway,
        clock=clock,
        channel=CHANNEL,
        timeout_s=86_400.0,
        language="both",
        limiter=limiter,
    )


class CitizenBot:
    def __init__(
        self,
        *,
        guided: GuidedRequests,
        clock: Clock,
        bridge: IntakeBridge,
        fetcher: FileFetcher,
        links: LinkStore,
    ) -> None:
        self._clock = clock
        self._bridge = bridge
        self._fetcher = fetcher
        self._links = links
        self._guided = guided
        self._form = guided.catalogue.form

    def router(self) -> Router:
        r = Router(name="telegram-citizen")
        r.message.filter(F.chat.type == ChatType.PRIVATE)
        r.message.register(self.start, CommandStart())
        r.message.register(self.cancel, Command("cancel"))
        r.message.register(self.status, Command("status", "my"))
        r.message.register(self.new, Command("new"))
        r.message.register(self.message)
        return r

    async def start(self, message: Message) -> None:
        await self._guided.drop(identity(message))
        await message.answer(texts.WELCOME, reply_markup=keyboards.remove())

    async def cancel(self, message: Message) -> None:
        await self._guided.drop(identity(message))
        text = self._guided.say_form("cancelled")
        await message.answer(text, reply_markup=keyboards.remove())

    async def new(self, message: Message, event_update: Update) -> None:
        inbound = plain(message, event_update, received_at=self._clock())
        await self._show(message, await self._guided.start_form(inbound))

    async def status(self, message: Message, event_update: Update) -> None:
        """/status and /my are the core's status query ("查询"), answered from its outcome."""
        inbound = plain(message, event_update, received_at=self._clock(), text="查询")
        await self._bridge.submit(inbound, _answer(message))

    async def message(self, message: Message, bot: Bot, event_update: Update) -> None:
        """An answer to the open form's question, or else a message of its own."""
        asking = await self._guided.asking(identity(message))
        if asking is None or not await self._answer_form(message, bot, event_update, asking):
            await self.plain(message, bot, event_update)

    async def _answer_form(self, message: Message, bot: Bot, update: Update, asking: str) -> bool:
        """Hand the message to the form; False when the form no longer takes it."""
        ref = file_of(message)
        attachment = await self._fetch(message, bot) if ref and asking in FILE_STEPS else None
        inbound = plain(
            message,
            update,
            received_at=self._clock(),
            attachments=(attachment,) if attachment else (),
            attachment_kind=ref.kind if ref else None,
        )
        if message.contact is not None and asking == "phone":
            phone = await self._own_phone(message)
            if phone is None:
                return True
            inbound = _with_vouched_phone(inbound, phone)
        step = await self._guided.on_message(inbound)
        if step is None:
            return False
        await self._show(message, step)
        return True

    async def _show(self, message: Message, step: Step) -> None:
        """The step as Telegram messages: its notes, then its question with the keyboard that
        answers it, or the new ticket's number."""
        for note in step.notes:
            await message.answer(note)
        if step.filed is not None:
            await self._bridge.announce_filed(step, _answer(message, keyboards.remove()))
        elif step.text:
            markup = keyboards.for_question(self._form, step.asking)
            await message.answer(step.text, reply_markup=markup)

    async def _own_phone(self, message: Message) -> str | None:
        """Only the sender's own number (Telegram vouches for it) may link their identity."""
        contact = message.contact
        assert contact is not None
        again = keyboards.contact(self._form)
        if message.from_user is None or contact.user_id != message.from_user.id:
            await message.answer(self._guided.say_form("phone_not_own"), reply_markup=again)
            return None
        raw = contact.phone_number.strip()
        try:
            return normalize_phone(raw if raw.startswith("+") else f"+{raw}")
        except InvalidInput:
            await message.answer(self._guided.say_form("phone_invalid"), reply_markup=again)
            return None

    async def plain(self, message: Message, bot: Bot, event_update: Update) -> None:
        if (message.text or "").startswith("/"):
            await message.answer(texts.WELCOME)
            return
        if await self._links.staff_id_of(message.chat.id) is not None:
            await message.answer(texts.STAFF_HINT)
            return
        ref = file_of(message)
        attachment = await self._fetch(message, bot) if ref else None
        inbound = plain(
            message,
            event_update,
            received_at=self._clock(),
            attachments=(attachment,) if attachment else (),
            attachment_kind=ref.kind if ref else None,
        )
        if ref and attachment is None and not inbound.text:
            await message.answer(self._guided.say_form("too_large"))
            return
        await self._bridge.submit(inbound, _answer(message))

    async def _fetch(self, message: Message, bot: Bot) -> Attachment | None:
        ref = file_of(message)
        return await self._fetcher.fetch(bot, ref) if ref else None


def _with_vouched_phone(message: InboundMessage, phone: str) -> InboundMessage:
    """The message carrying the shared contact, which Telegram vouches is the sender's own."""
    fields = {**message.fields, "contact_phone": phone, VOUCHED_PHONE: True}
    return dataclasses.replace(message, fields=fields)


def _answer(message: Message, markup: Any = None) -> Any:
    def send(text: str) -> Awaitable[Any]:
        return message.answer(text, reply_markup=markup)

    return send
