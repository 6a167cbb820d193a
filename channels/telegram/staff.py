"""The staff side of the same bot: /link CODE, and the buttons on staff alerts.

One bot for everyone keeps operations simple (one token, one webhook); what a chat may do is
decided per chat: only a chat linked to an active staff account (see `linking`) can accept or
open tickets, and every action goes through `intake.tickets.actions.perform` under that account, so
role, department scope and the state machine apply exactly as in the staff API, and the
ticket event carries the staff member's name.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from channels.telegram import keyboards, texts
from channels.telegram.linking import LinkStore, link_contact, linked_staff
from channels.telegram.sender import ACCEPT_PREFIX, OPEN_PREFIX
from intake.catalog import Catalog
from intake.domain.clock import Clock
from intake.domain.enums import RequestType, TicketStatus
from intake.domain.errors import IntakeError
from intake.domain.lifecycle import Action
from intake.domain.models import Staff, Ticket
from intake.storage.database import Database
from intake.storage.outbox import OutboxRelay
from intake.tickets.actions import ActionRequest, get_ticket, perform

log = logging.getLogger(__name__)

MAX_DETAIL = 3500


class StaffBot:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        clock: Clock,
        relay: OutboxRelay,
        links: LinkStore,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._clock = clock
        self._relay = relay
        self._links = links

    def router(self) -> Router:
        r = Router(name="telegram-staff")
        r.message.register(self.link, Command("link"), F.chat.type == ChatType.PRIVATE)
        r.callback_query.register(self.accept, F.data.startswith(ACCEPT_PREFIX))
        r.callback_query.register(self.open, F.data.startswith(OPEN_PREFIX))
        return r

    async def link(self, message: Message, command: CommandObject) -> None:
        code = (command.args or "").strip()
        staff_id = await self._links.consume(code) if code else None
        if not code:
            await message.answer(texts.LINK_USAGE)
            return
        if staff_id is None:
            await message.answer(texts.LINK_BAD)
            return
        async with self._db.write() as session, session.begin():
            staff = await session.get(Staff, staff_id)
            if staff is None or not staff.active:
                await message.answer(texts.LINK_INACTIVE)
                return
            link_contact(staff, message.chat.id)
            name, department = staff.name, staff.department or "12345"
        await self._links.remember(message.chat.id, staff_id)
        log.info("telegram chat linked to staff id=%s", staff_id)
        await message.answer(texts.LINKED.format(name=name, department=department))

    async def accept(self, query: CallbackQuery) -> None:
        number = (query.data or "")[len(ACCEPT_PREFIX) :]
        chat = _chat_of(query)
        try:
            async with self._db.write() as session, session.begin():
                staff = await linked_staff(session, self._links, chat)
                if staff is None:
                    await query.answer(texts.NOT_STAFF, show_alert=True)
                    return
                ticket = await perform(
                    session,
                    number=number,
                    request=ActionRequest(action=Action.ACCEPT),
                    staff=staff,
                    catalog=self._catalog,
                    clock=self._clock,
                )
                name, status = staff.name, TicketStatus(ticket.status).label_zh
        except IntakeError as exc:
            log.info("telegram staff accept %s refused: %s", number, exc)
            await query.answer(str(exc)[:190], show_alert=True)
            return
        await self._relay.flush(ticket_id=ticket.id)
        await query.answer(texts.ACCEPTED)
        await self._after_accept(query, number, name, status)

    async def _after_accept(
        self, query: CallbackQuery, number: str, name: str, status: str
    ) -> None:
        """Leave only the "open" button, and say who accepted it in the chat."""
        if not isinstance(query.message, Message):
            return
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[keyboards.button("📄 查看 Open", OPEN_PREFIX + number)]]
        )
        await query.message.edit_reply_markup(reply_markup=markup)
        await query.message.answer(
            texts.ACCEPTED_NOTE.format(number=number, name=name, status=status)
        )

    async def open(self, query: CallbackQuery) -> None:
        number = (query.data or "")[len(OPEN_PREFIX) :]
        async with self._db.read() as session:
            staff = await linked_staff(session, self._links, _chat_of(query))
            if staff is None:
                await query.answer(texts.NOT_STAFF, show_alert=True)
                return
            try:
                ticket = await get_ticket(session, number=number, staff=staff)
            except IntakeError as exc:
                await query.answer(str(exc)[:190], show_alert=True)
                return
            detail = _detail(ticket)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(detail)


def _chat_of(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message else query.from_user.id


def _detail(ticket: Ticket) -> str:
    try:
        request_type = RequestType(ticket.request_type).label_zh
    except ValueError:
        request_type = ticket.request_type
    text = texts.TICKET_DETAIL.format(
        number=ticket.number,
        status=TicketStatus(ticket.status).label_zh,
        request_type=request_type,
        title=ticket.title,
        address=ticket.address or "—",
        due=ticket.due_at.strftime("%Y-%m-%d %H:%M UTC") if ticket.due_at else "—",
        content=ticket.content,
    )
    return text[:MAX_DETAIL]
