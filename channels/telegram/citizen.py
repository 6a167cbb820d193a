"""The citizen side of the bot: /start, the guided request (FSM), /status, plain messages.

The guided request gathers type → text → location → phone in aiogram's FSM (stored in Redis,
so any process can take the next step) and submits it as ONE message when the last step
arrives, with that update's id as its key. Anything sent outside the flow goes to the core as
it is; the core decides whether it is a new request, a follow-up, a status query or a rating.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardMarkup, Update

from channels.telegram import keyboards, texts
from channels.telegram.bridge import IntakeBridge
from channels.telegram.files import FileFetcher, attachment_from_data, attachment_to_data, file_of
from channels.telegram.forms import RequestForm, request_type_of
from channels.telegram.inbound import guided, location_of, plain
from channels.telegram.linking import LinkStore
from intake.errors import InvalidInput, TooManyRequests
from intake.messages import Attachment
from intake.phones import normalize_phone
from intake.runtime import Runtime

log = logging.getLogger(__name__)

FILES = F.photo | F.document | F.voice | F.video


class CitizenBot:
    def __init__(
        self, runtime: Runtime, bridge: IntakeBridge, fetcher: FileFetcher, links: LinkStore
    ) -> None:
        self._runtime = runtime
        self._bridge = bridge
        self._fetcher = fetcher
        self._links = links

    def router(self) -> Router:
        r = Router(name="telegram-citizen")
        r.message.filter(F.chat.type == ChatType.PRIVATE)
        r.message.register(self.start, CommandStart())
        r.message.register(self.cancel, Command("cancel"))
        r.message.register(self.cancel, StateFilter(RequestForm), F.text == keyboards.CANCEL)
        r.message.register(self.status, Command("status", "my"))
        r.message.register(self.new, Command("new"))
        r.message.register(self.choose_type, RequestForm.request_type, F.text)
        r.message.register(self.attach, StateFilter(RequestForm.text, RequestForm.location), FILES)
        r.message.register(self.describe, RequestForm.text, F.text)
        r.message.register(self.place, RequestForm.location, F.location | F.venue | F.text)
        r.message.register(self.phone, RequestForm.phone, F.contact | F.text)
        r.message.register(self.reprompt, StateFilter(RequestForm))
        r.message.register(self.plain)
        return r

    async def start(self, message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.answer(texts.WELCOME, reply_markup=keyboards.remove())

    async def cancel(self, message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.answer(texts.CANCELLED, reply_markup=keyboards.remove())

    async def new(self, message: Message, state: FSMContext) -> None:
        await state.clear()
        await state.set_state(RequestForm.request_type)
        await message.answer(texts.ASK_TYPE, reply_markup=keyboards.request_types())

    async def choose_type(self, message: Message, state: FSMContext) -> None:
        chosen = request_type_of(message.text or "")
        if chosen is None:
            await message.answer(texts.TYPE_AGAIN, reply_markup=keyboards.request_types())
            return
        await state.update_data(request_type=chosen.value, attachments=[])
        await state.set_state(RequestForm.text)
        await message.answer(texts.ASK_TEXT, reply_markup=keyboards.cancel_only())

    async def attach(self, message: Message, state: FSMContext, bot: Bot) -> None:
        attachment = await self._fetch(message, bot)
        files = list((await state.get_data()).get("attachments") or [])
        if attachment is None:
            await message.answer(texts.TOO_LARGE)
        else:
            files.append(attachment_to_data(attachment))
            await state.update_data(attachments=files)
            await message.answer(texts.ATTACHED.format(count=len(files)))
        if message.caption and await state.get_state() == RequestForm.text.state:
            await self._described(message, state, message.caption)

    async def describe(self, message: Message, state: FSMContext) -> None:
        await self._described(message, state, message.text or "")

    async def _described(self, message: Message, state: FSMContext, text: str) -> None:
        await state.update_data(text=text.strip())
        await state.set_state(RequestForm.location)
        await message.answer(texts.ASK_LOCATION, reply_markup=keyboards.location())

    async def place(self, message: Message, state: FSMContext) -> None:
        found = location_of(message)
        place: dict[str, Any] | None
        if found is not None:
            place = {"latitude": found.latitude, "longitude": found.longitude, "label": found.label}
        elif (message.text or "").strip() == keyboards.SKIP:
            place = None
        else:
            place = {"label": (message.text or "").strip()[:300]}
        await state.update_data(location=place)
        await state.set_state(RequestForm.phone)
        await message.answer(texts.ASK_PHONE, reply_markup=keyboards.contact())

    async def phone(self, message: Message, state: FSMContext, event_update: Update) -> None:
        if message.contact is not None:
            phone = await self._own_phone(message)
            if phone is None:
                return
            await state.update_data(contact_phone=phone)
        elif (message.text or "").strip() != keyboards.SKIP:
            await message.answer(texts.ASK_PHONE, reply_markup=keyboards.contact())
            return
        await self._finish(message, state, event_update)

    async def _own_phone(self, message: Message) -> str | None:
        """Only the sender's own number (Telegram vouches for it) may link their identity."""
        contact = message.contact
        assert contact is not None
        if message.from_user is None or contact.user_id != message.from_user.id:
            await message.answer(texts.PHONE_NOT_OWN, reply_markup=keyboards.contact())
            return None
        raw = contact.phone_number.strip()
        try:
            return normalize_phone(raw if raw.startswith("+") else f"+{raw}")
        except InvalidInput:
            await message.answer(texts.PHONE_INVALID, reply_markup=keyboards.contact())
            return None

    async def _finish(self, message: Message, state: FSMContext, update: Update) -> None:
        form = await state.get_data()
        attachments = tuple(attachment_from_data(a) for a in form.get("attachments") or [])
        inbound = guided(
            message, update, received_at=self._runtime.clock(), form=form, attachments=attachments
        )
        try:  # numbered at once, so the core's flood guard never sees it: limited here
            await self._runtime.limiter.admit_submission(
                ip=None,
                sender=f"telegram:{inbound.sender.value}",
                idempotency_key=inbound.idempotency_key,
            )
        except TooManyRequests:
            await state.clear()
            await message.answer(texts.TOO_MANY, reply_markup=keyboards.remove())
            return
        await self._bridge.file_request(inbound, _answer(message, keyboards.remove()))
        await state.clear()

    async def reprompt(self, message: Message, state: FSMContext) -> None:
        """Something else arrived in the middle of the form: ask the current question again."""
        prompts: dict[str | None, tuple[str, ReplyKeyboardMarkup]] = {
            RequestForm.request_type.state: (texts.TYPE_AGAIN, keyboards.request_types()),
            RequestForm.text.state: (texts.TEXT_AGAIN, keyboards.cancel_only()),
            RequestForm.location.state: (texts.ASK_LOCATION, keyboards.location()),
            RequestForm.phone.state: (texts.ASK_PHONE, keyboards.contact()),
        }
        text, markup = prompts.get(
            await state.get_state(), (texts.WELCOME, keyboards.cancel_only())
        )
        await message.answer(text, reply_markup=markup)

    async def status(self, message: Message, event_update: Update) -> None:
        """/status and /my are the core's status query ("查询"), answered from its outcome."""
        inbound = plain(message, event_update, received_at=self._runtime.clock(), text="查询")
        await self._bridge.submit(inbound, _answer(message))

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
            received_at=self._runtime.clock(),
            attachments=(attachment,) if attachment else (),
            attachment_kind=ref.kind if ref else None,
        )
        if ref and attachment is None and not inbound.text:
            await message.answer(texts.TOO_LARGE)
            return
        await self._bridge.submit(inbound, _answer(message))

    async def _fetch(self, message: Message, bot: Bot) -> Attachment | None:
        ref = file_of(message)
        return await self._fetcher.fetch(bot, ref) if ref else None


def _answer(message: Message, markup: Any = None) -> Any:
    def send(text: str) -> Awaitable[Any]:
        return message.answer(text, reply_markup=markup)

    return send
