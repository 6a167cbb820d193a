"""Rating answers recognised by the pipeline, whatever the channel: recorded on the right
ticket, unsatisfied reopens under supervision, late answers are answered politely."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from intake.domain.models import Ticket
from intake.ingest.outcome_waiter import wait_for_outcome
from intake.runtime import Runtime
from notifier.config import load_notify_settings
from notifier.models import Prompt, PromptKind
from notifier.prompts import ensure_prompt
from tests.core.helpers import drain
from tests.core.test_pipeline import _events, _intent_of, sms

PHONE = "+8613912345678"


async def _closed_ticket_with_prompt(runtime: Runtime) -> tuple[Ticket, Prompt]:
    await runtime.gateway.submit(sms("r0", "小区东门路灯不亮已经一周了", phone=PHONE))
    await drain(runtime)
    async with runtime.db.write() as session, session.begin():
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
        ticket.status = "closed"
    prompt = await ensure_prompt(
        runtime.db,
        job_key=f"survey:{ticket.number}",
        ticket=ticket,
        kind=PromptKind.SURVEY,
        channel="sms",
        cfg=load_notify_settings({}),
        now=runtime.clock(),
    )
    return ticket, prompt


async def _outcome_reply(runtime: Runtime, external_id: str) -> str:
    outcome = await wait_for_outcome(
        runtime.redis.client, runtime.redis.keys, channel="sms", external_id=external_id, within_s=1
    )
    assert outcome is not None and outcome.reply
    return outcome.reply


async def test_unsatisfied_rating_reopens_under_supervision(runtime: Runtime) -> None:
    ticket, _ = await _closed_ticket_with_prompt(runtime)
    await runtime.gateway.submit(sms("r1", "３", phone=PHONE))  # full-width 3: 不满意
    await drain(runtime)
    assert await _intent_of(runtime, "r1") == "rating"
    kinds = await _events(runtime, ticket.number)
    assert kinds[-2:] == ["rated", "reopened"]
    async with runtime.db.read() as session:
        again = await session.scalar(select(Ticket))
    assert again is not None and again.status == "reopened" and again.supervision
    assert await _outcome_reply(runtime, "r1")
    # the prompt is answered now: a second "1" is late, politely answered, no new ticket
    await runtime.gateway.submit(sms("r2", "1", phone=PHONE))
    await drain(runtime)
    assert await _intent_of(runtime, "r2") == "rating"
    assert (await _events(runtime, ticket.number))[-2:] == ["rated", "reopened"]
    assert await _outcome_reply(runtime, "r2")


async def test_words_in_a_long_message_are_not_a_rating(runtime: Runtime) -> None:
    await _closed_ticket_with_prompt(runtime)
    text = "我对上次的处理很不满意，另外小区西门的下水道又堵了，污水漫到路上，请派人来看看"
    await runtime.gateway.submit(sms("r3", text, phone=PHONE))
    await drain(runtime)
    assert await _intent_of(runtime, "r3") == "new_request"


async def test_satisfied_by_code_and_expiry(runtime: Runtime) -> None:
    _, prompt = await _closed_ticket_with_prompt(runtime)
    await runtime.gateway.submit(sms("r4", f"{prompt.code} 基本满意", phone=PHONE))
    await drain(runtime)
    async with runtime.db.read() as session:
        answered = await session.get(Prompt, prompt.id)
        again = await session.scalar(select(Ticket))
    assert answered is not None and answered.answer["rating"] == "basic"
    assert again is not None and again.status == "closed" and not again.supervision
    assert answered.expires_at - answered.created_at >= timedelta(days=1)
