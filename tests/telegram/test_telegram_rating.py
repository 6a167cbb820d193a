"""Rating buttons: the notifier's survey carries 满意/基本满意/不满意 buttons through the real
sender, and pressing one records the answer at once and takes the buttons off."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from channels.base import OutboundMessage
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.domain.models import Ticket, TicketEvent
from notifier.config import load_notify_settings
from notifier.models import Prompt, PromptKind
from notifier.prompts import ensure_prompt
from tests.telegram import updates as u
from tests.telegram.conftest import Service
from tests.telegram.updates import CITIZEN


async def _closed_ticket(service: Service) -> Ticket:
    await service.send(u.text("小区东门路灯不亮已经一周了"))
    async with service.runtime.db.write() as session, session.begin():
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
        ticket.status = "closed"
    return ticket


async def _prompt(service: Service, ticket: Ticket) -> Prompt:
    return await ensure_prompt(
        service.runtime.db,
        job_key=f"survey:{ticket.number}",
        ticket=ticket,
        kind=PromptKind.SURVEY,
        channel="telegram",
        cfg=load_notify_settings({}),
        now=service.runtime.clock(),
    )


async def test_button_records_the_rating(service: Service) -> None:
    ticket = await _closed_ticket(service)
    prompt = await _prompt(service, ticket)
    buttons = tuple(
        (label, f"rate:{prompt.code}:{i}")
        for i, label in enumerate(("满意", "基本满意", "不满意"), start=1)
    )
    sender = service.connector.sender()
    assert sender is not None
    await sender.send(
        OutboundMessage(
            recipient=SenderIdentity(IdentityKind.TELEGRAM, str(CITIZEN)),
            text="请对办理结果评价",
            job_key=f"survey:{ticket.number}",
            buttons=buttons,
        )
    )
    survey = service.fake.sent(CITIZEN)[-1]
    row = survey.markup["inline_keyboard"][0]
    assert [b["text"] for b in row] == ["满意", "基本满意", "不满意"]
    await service.send(u.callback(row[1]["callback_data"]))
    async with service.runtime.db.read() as session:
        answered = await session.get(Prompt, prompt.id)
        kinds = list(await session.scalars(select(TicketEvent.kind)))
    assert answered is not None and answered.answer["rating"] == "basic"
    assert answered.answer["channel"] == "telegram" and "rated" in kinds
    assert service.fake.sent(method="answerCallbackQuery")
    (edit,) = service.fake.sent(method="editMessageReplyMarkup")
    assert "inline_keyboard" not in (edit.params.get("reply_markup") or "")
    assert service.fake.texts(CITIZEN)[-1]  # the thanks text from the notifier's templates


async def test_someone_elses_button_changes_nothing(service: Service) -> None:
    ticket = await _closed_ticket(service)
    prompt = await _prompt(service, ticket)
    stranger = 999_111
    await service.send(u.callback(f"rate:{prompt.code}:3", chat=stranger))
    await asyncio.sleep(0.05)
    async with service.runtime.db.read() as session:
        untouched = await session.get(Prompt, prompt.id)
        again = await session.scalar(select(Ticket))
    assert untouched is not None and untouched.status == "pending"
    assert again is not None and again.status == "closed"
    assert service.fake.sent(method="editMessageReplyMarkup") == []


async def test_repeated_callback_update_is_handled_once(service: Service) -> None:
    ticket = await _closed_ticket(service)
    prompt = await _prompt(service, ticket)
    update = u.callback(f"rate:{prompt.code}:1")
    await service.send(update)
    await service.send(update)
    assert len(service.fake.sent(method="answerCallbackQuery")) == 1
