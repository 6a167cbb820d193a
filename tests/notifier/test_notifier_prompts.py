"""Prompts: the one-click link records once, reminders, expiry, late answers, deadlines."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.domain.models import Ticket
from intake.runtime import Runtime
from notifier.answers import record_answer
from notifier.models import Prompt
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import EMAIL, closed_and_surveyed, events, new_ticket, staff, ticket

CITIZEN = SenderIdentity(IdentityKind.EMAIL, EMAIL)


async def test_link_records_the_answer_once(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    notifier = make_notifier(senders)
    number = await closed_and_surveyed(nruntime, http, notifier, clock)
    survey = senders["email"].sent[-1]
    assert survey.template == "survey" and survey.html is not None
    satisfied, _, unsatisfied = re.findall(r"http://127\.0\.0\.1:8000(/r/[\w-]+)", survey.text)
    first = await http.get(satisfied)
    assert first.status_code == 200 and "感谢您的评价（满意）" in first.text
    again = await http.get(satisfied)
    assert again.status_code == 200 and "已评价或已过期" in again.text
    other = await http.get(unsatisfied)
    assert "已评价或已过期" in other.text
    (rated,) = await events(nruntime, number, "rated")
    assert rated.data["rating"] == "satisfied" and rated.data["channel"] == "link"
    assert (await ticket(nruntime, number)).status == "closed"
    forged = unsatisfied.replace("-3-", "-1-")
    assert (await http.get(forged)).status_code == 404
    assert (await http.get("/r/12-1-nope")).status_code == 404


async def test_unsatisfied_link_reopens(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    notifier = make_notifier(senders)
    number = await closed_and_surveyed(nruntime, http, notifier, clock)
    unsatisfied = re.findall(r"/r/[\w-]+", senders["email"].sent[-1].text)[2]
    page = await http.get(unsatisfied)
    assert "重新办理" in page.text
    reopened = await ticket(nruntime, number)
    assert reopened.status == "reopened" and reopened.supervision


async def test_reminder_then_expiry_then_late_answer(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    notifier = make_notifier(senders)
    number = await closed_and_surveyed(nruntime, http, notifier, clock)
    assert [m.template for m in senders["email"].sent][-1] == "survey"
    clock.advance(days=1, hours=23)
    await notifier.run_due()
    assert [m.template for m in senders["email"].sent][-1] == "survey"
    clock.advance(hours=1)
    await notifier.run_due()
    reminder = senders["email"].sent[-1]
    assert reminder.template == "reminder" and number in reminder.text
    clock.advance(days=1)
    await notifier.run_due()
    async with nruntime.db.read() as session:
        prompt = await session.scalar(select(Prompt))
    assert prompt is not None and prompt.status == "expired" and prompt.reminder_sent
    assert [m.template for m in senders["email"].sent].count("reminder") == 1
    late = await record_answer(
        notifier_parts(nruntime), identity=CITIZEN, text="满意", channel="email"
    )
    assert late.status == "late" and "过期" in late.reply
    assert await events(nruntime, number, "rated") == []


async def test_answer_by_code_picks_that_prompt_not_the_newest(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    notifier = make_notifier(senders)
    first = await closed_and_surveyed(nruntime, http, notifier, clock)
    code = re.search(r"回访码 ([A-Z]{6})", senders["email"].sent[-1].text)
    assert code is not None
    second = await new_ticket(nruntime, channel="email", external_id="m2", text="路灯不亮。")
    _, agent = await staff(nruntime, Role.SUPERVISOR)
    for action, body in (("accept", {}), ("close", {"text": "已修复。"})):
        await http.post(f"/api/v1/tickets/{second}/actions/{action}", json=body, headers=agent)
    await notifier.run_due()
    clock.advance(hours=2)
    await notifier.run_due()
    said = await record_answer(
        notifier_parts(nruntime),
        identity=CITIZEN,
        text=f"{code.group(1).lower()} ２",
        channel="email",
    )
    assert said.ticket_number == first and said.rating == "basic"
    unclear = await record_answer(
        notifier_parts(nruntime), identity=CITIZEN, text="嗯", channel="email"
    )
    assert unclear.status == "unclear" and unclear.ticket_number == second
    newest = await record_answer(
        notifier_parts(nruntime), identity=CITIZEN, text="满意，已解决", channel="sms"
    )
    assert newest.ticket_number == second and newest.rating == "satisfied"
    (rated,) = await events(nruntime, second, "rated")
    assert rated.data["solved"] is True


async def test_deadline_alerts_yellow_then_red_once_each(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    from notifier.deadlines import scan_deadlines

    notifier = make_notifier(senders)
    await staff(nruntime, Role.HANDLER, "environment", {"sms": "+8613900000001"})
    number = await new_ticket(nruntime, channel="email")
    await notifier.run_due()
    due = clock() + timedelta(days=2)
    async with nruntime.db.write() as session, session.begin():
        await session.execute(
            update(Ticket)
            .where(Ticket.number == number)
            .values(department="environment", status="dispatched", due_at=due)
        )
    redis = nruntime.redis.client
    assert await scan_deadlines(notifier.jc, redis) == 0
    clock.advance(days=1, minutes=1)
    assert await scan_deadlines(notifier.jc, redis) == 1
    assert await scan_deadlines(notifier.jc, redis) == 0
    await notifier.run_due()
    clock.advance(days=1)
    assert await scan_deadlines(notifier.jc, redis) == 1
    await notifier.run_due()
    alerts = [m for m in senders["sms"].sent if m.recipient.value == "+8613900000001"]
    assert [m.template for m in alerts] == ["staff_yellow", "staff_red"]
    assert "黄牌" in alerts[0].text and "超期" in alerts[1].text
