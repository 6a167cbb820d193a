"""Replies to one's own closed ticket: inside the window they reopen it (through the lifecycle)
or follow up on it, as configured; after it they are new requests that name the old ticket;
a survey answer stays a rating; someone else's closed ticket is never touched."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.lifecycle import Action
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Message, Ticket, TicketEvent
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform
from notifier.config import load_notify_settings
from notifier.models import PromptKind
from notifier.prompts import ensure_prompt
from service.wiring import open_runtime
from tests.core.helpers import accept_and_close, drain

CLOSED_AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
PHONE = "+8613912345678"
MAIL = "zhangsan@example.test"


def message(
    external_id: str,
    text: str,
    *,
    at: datetime,
    thread_ref: str | None = None,
    channel: str = "sms",
    sender: SenderIdentity | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=sender or SenderIdentity(kind=IdentityKind.PHONE, value=PHONE),
        kind=MessageKind.TEXT,
        received_at=at,
        text=text,
        thread_ref=thread_ref,
    )


@pytest.fixture
async def closing(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """A runtime with the policy changed by `**pipeline`, and an SMS ticket closed (direct
    answer) at CLOSED_AT."""
    runtimes: list[Runtime] = []

    async def make(**pipeline: Any) -> tuple[Runtime, Ticket]:
        changed = settings.pipeline.model_copy(update=pipeline)
        runtime = await open_runtime(settings.model_copy(update={"pipeline": changed}))
        runtimes.append(runtime)
        at = CLOSED_AT - timedelta(hours=2)
        await runtime.gateway.submit(message("first", "我家楼道的灯坏了，请尽快修理", at=at))
        await drain(runtime)
        async with runtime.db.read() as session:
            number = await session.scalar(select(Ticket.number))
        assert number is not None
        await accept_and_close(
            runtime, number, reply="已联系物业更换灯泡。", clock=lambda: CLOSED_AT
        )
        return runtime, await _ticket(runtime, number)

    yield make
    for runtime in runtimes:
        await runtime.close()


async def _ticket(runtime: Runtime, number: str) -> Ticket:
    async with runtime.db.read() as session:
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert found is not None
    return found


async def _events(runtime: Runtime, number: str) -> list[TicketEvent]:
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(TicketEvent).join(Ticket).where(Ticket.number == number).order_by(TicketEvent.id)
        )
        return list(rows)


async def _intent(runtime: Runtime, external_id: str) -> str:
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(Message.intent).where(Message.external_id == external_id)
        )
    assert found is not None
    return found


async def _count(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return len(list(await session.scalars(select(Ticket.id))))


async def test_a_reply_inside_the_window_reopens_through_the_lifecycle(
    closing: Callable[..., Any],
) -> None:
    runtime, ticket = await closing()
    assert ticket.status == "closed" and ticket.closed_at == CLOSED_AT
    at = CLOSED_AT + timedelta(days=6, hours=23)
    await runtime.gateway.submit(message("r1", "灯又坏了", at=at, thread_ref=ticket.number))
    await drain(runtime)
    again = await _ticket(runtime, ticket.number)
    assert again.status == "reopened" and again.closed_at is None
    assert await _count(runtime) == 1 and await _intent(runtime, "r1") == "follow_up"
    events = await _events(runtime, ticket.number)
    assert [e.kind for e in events][-3:] == ["closed", "reopened", "follow_up"]
    reopened, follow_up = events[-2:]
    assert reopened.actor_kind == "citizen" and reopened.public
    assert reopened.data["from"] == "closed" and reopened.data["to"] == "reopened"
    assert reopened.data["reason"] == "citizen_reply" and reopened.message_id is not None
    assert follow_up.text == "灯又坏了"
    steps = {d["step"]: d for d in follow_up.data["decisions"]}
    assert steps["closed_reply"]["outcome"] == "reopen"
    assert steps["closed_reply"]["ticket"] == ticket.number
    # staff continue on the state machine: a reopened ticket is accepted again
    async with runtime.db.write() as session, session.begin():
        agent, _ = await add_staff(
            session, name="王五", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
        done = await perform(
            session,
            number=ticket.number,
            request=ActionRequest(Action.ACCEPT),
            staff=agent,
            catalog=runtime.catalog,
            clock=lambda: at,
        )
        assert done.status == "accepted"


async def test_follow_up_action_keeps_the_ticket_closed(closing: Callable[..., Any]) -> None:
    runtime, ticket = await closing(closed_reply_action="follow_up")
    at = CLOSED_AT + timedelta(days=2)
    await runtime.gateway.submit(message("r1", "谢谢，再补充一句", at=at, thread_ref=ticket.number))
    await drain(runtime)
    again = await _ticket(runtime, ticket.number)
    assert again.status == "closed" and again.closed_at == CLOSED_AT
    kinds = [e.kind for e in await _events(runtime, ticket.number)]
    assert kinds[-2:] == ["closed", "follow_up"] and "reopened" not in kinds
    follow_up = (await _events(runtime, ticket.number))[-1]
    assert {"step": "closed_reply", "outcome": "follow_up"}.items() <= next(
        d for d in follow_up.data["decisions"] if d["step"] == "closed_reply"
    ).items()


async def test_after_the_window_it_is_a_new_request_naming_the_old_ticket(
    closing: Callable[..., Any],
) -> None:
    runtime, ticket = await closing(closed_reply_window_days=3)
    at = CLOSED_AT + timedelta(days=3, minutes=1)
    await runtime.gateway.submit(
        message("late", "楼道灯又坏了，请再派人来", at=at, thread_ref=ticket.number)
    )
    await drain(runtime)
    assert (await _ticket(runtime, ticket.number)).status == "closed"
    assert await _count(runtime) == 2 and await _intent(runtime, "late") == "new_request"
    async with runtime.db.read() as session:
        fresh = await session.scalar(select(Ticket).where(Ticket.number != ticket.number))
    assert fresh is not None and fresh.content.startswith("楼道灯又坏了")
    received = next(e for e in await _events(runtime, fresh.number) if e.kind == "received")
    (decision,) = [d for d in received.data["decisions"] if d["step"] == "closed_reply"]
    assert decision["outcome"] == "new_request" and decision["ticket"] == ticket.number
    assert decision["window_days"] == 3 and "after the window" in decision["reason"]


async def test_the_number_quoted_in_the_text_counts_on_any_channel(
    closing: Callable[..., Any],
) -> None:
    runtime, ticket = await closing()
    at = CLOSED_AT + timedelta(days=1)
    text = f"关于工单{ticket.number}，路灯又不亮了"
    await runtime.gateway.submit(message("t1", text, at=at))
    await drain(runtime)
    assert (await _ticket(runtime, ticket.number)).status == "reopened"
    assert await _count(runtime) == 1
    # the same words from another citizen never touch it: a new request
    stranger = SenderIdentity(kind=IdentityKind.EMAIL, value="stranger@example.test")
    await runtime.gateway.submit(
        message("t2", text, at=at, channel="email", sender=stranger, thread_ref=ticket.number)
    )
    await drain(runtime)
    assert await _count(runtime) == 2 and await _intent(runtime, "t2") == "new_request"
    kinds = [e.kind for e in await _events(runtime, ticket.number)]
    assert kinds.count("follow_up") == 1 and kinds.count("reopened") == 1


async def test_a_survey_answer_in_the_thread_is_a_rating_not_a_reopen(
    closing: Callable[..., Any],
) -> None:
    runtime, ticket = await closing()
    await ensure_prompt(
        runtime.db,
        job_key=f"survey:{ticket.number}",
        ticket=ticket,
        kind=PromptKind.SURVEY,
        channel="sms",
        cfg=load_notify_settings({}),
        now=runtime.clock(),  # the pipeline records answers on the runtime clock
    )
    at = CLOSED_AT + timedelta(hours=3)
    await runtime.gateway.submit(message("s1", "满意", at=at, thread_ref=ticket.number))
    await drain(runtime)
    assert await _intent(runtime, "s1") == "rating"
    assert (await _ticket(runtime, ticket.number)).status == "closed"
    assert [e.kind for e in await _events(runtime, ticket.number)][-1] == "rated"


async def test_the_query_code_quoted_in_the_text_reopens_like_the_number(
    closing: Callable[..., Any],
) -> None:
    runtime, ticket = await closing()
    at = CLOSED_AT + timedelta(days=1)
    # full-width and lower case, as a phone keyboard may type it: folded before comparing
    wide = "".join(chr(ord(c) + 0xFEE0) for c in ticket.query_code.lower())
    assert unicodedata.normalize("NFKC", wide).upper() == ticket.query_code
    await runtime.gateway.submit(message("c1", f"查询码{wide}，路灯又不亮了", at=at))
    await drain(runtime)
    assert (await _ticket(runtime, ticket.number)).status == "reopened"
    assert await _count(runtime) == 1 and await _intent(runtime, "c1") == "follow_up"
    follow_up = (await _events(runtime, ticket.number))[-1]
    assert follow_up.kind == "follow_up"
    (decision,) = [d for d in follow_up.data["decisions"] if d["step"] == "closed_reply"]
    assert decision["outcome"] == "reopen" and decision["ticket"] == ticket.number
    assert "query code in the text" in decision["reason"]
    # the same code from another citizen is not a reference to it: a new request
    stranger = SenderIdentity(kind=IdentityKind.EMAIL, value="stranger@example.test")
    text = f"我的查询码是{ticket.query_code}"
    await runtime.gateway.submit(message("c2", text, at=at, channel="email", sender=stranger))
    await drain(runtime)
    assert await _count(runtime) == 2 and await _intent(runtime, "c2") == "new_request"
    kinds = [e.kind for e in await _events(runtime, ticket.number)]
    assert kinds.count("follow_up") == 1 and kinds.count("reopened") == 1


async def test_a_query_code_after_the_window_is_a_new_request_naming_the_old_ticket(
    closing: Callable[..., Any],
) -> None:
    runtime, ticket = await closing(closed_reply_window_days=3)
    at = CLOSED_AT + timedelta(days=3, minutes=1)
    await runtime.gateway.submit(message("c3", f"查询码 {ticket.query_code} 的灯又坏了", at=at))
    await drain(runtime)
    assert (await _ticket(runtime, ticket.number)).status == "closed"
    assert await _count(runtime) == 2 and await _intent(runtime, "c3") == "new_request"
    async with runtime.db.read() as session:
        fresh = await session.scalar(select(Ticket).where(Ticket.number != ticket.number))
    assert fresh is not None
    received = next(e for e in await _events(runtime, fresh.number) if e.kind == "received")
    (decision,) = [d for d in received.data["decisions"] if d["step"] == "closed_reply"]
    assert decision["outcome"] == "new_request" and decision["ticket"] == ticket.number
    assert (
        "query code in the text" in decision["reason"] and "after the window" in decision["reason"]
    )
