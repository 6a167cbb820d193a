"""Digests instead of floods, the escalation ladder and staff working hours, on WeCom.

Real Redis and database, the notifier's own runner, the real WeCom sender against the fake
WeCom API; time moves with the test clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, update

from channels.wecom.api import WeComClient
from channels.wecom.robot import RobotSender
from channels.wecom.sender import WeComSender
from channels.wecom.settings import wecom_settings
from intake.directory.contacts import ContactChange, set_contact
from intake.directory.department_alerts import robot_url, set_robot_url
from intake.domain.enums import Role
from intake.domain.lifecycle import Action
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.domain.models import Staff, Ticket
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform
from notifier.escalation import LEAD, SUPERVISOR, Escalator, overdue_levels
from notifier.models import Delivery
from notifier.morning import MorningList
from notifier.service import Notifier
from notifier.staff_alerts import EscalationRule, StaffAlertSettings
from service.wiring import notifier_parts
from tests.conftest import REDIS_URL
from tests.notifier.conftest import FakeClock
from tests.notifier.helpers import new_ticket, staff
from tests.wecom.conftest import wecom_section
from tests.wecom.fake_wecom import ROBOT_KEY, FakeWeCom


@pytest.fixture
async def wecom_notifier(nruntime: Runtime, fake_wecom: FakeWeCom) -> AsyncIterator[Notifier]:
    settings = wecom_settings(wecom_section(fake_wecom))
    assert settings is not None
    redis = aioredis.from_url(REDIS_URL)
    client = WeComClient(settings, redis=redis, keys=nruntime.redis.keys)
    notifier = Notifier(notifier_parts(nruntime), {"wecom": WeComSender(client)})
    yield notifier
    await notifier.close()
    await client.aclose()
    await redis.aclose()


async def _member(
    runtime: Runtime, role: Role, dept: str | None, userid: str, **change: Any
) -> int:
    staff_id, _ = await staff(runtime, role, dept)
    async with runtime.db.write() as session, session.begin():
        await set_contact(
            session, name=f"#{staff_id}", change=ContactChange(wecom_userid=userid, **change)
        )
    return staff_id


def _citizen(i: int) -> SenderIdentity:
    return SenderIdentity(IdentityKind.EMAIL, f"citizen{i}@example.cn")


async def _dispatch(runtime: Runtime, agent_id: int, number: str) -> None:
    """Dispatched to environment, by the agent unless triage already did it."""
    async with runtime.db.write() as session, session.begin():
        agent = await session.get(Staff, agent_id)
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert agent is not None and found is not None
        if found.status == "dispatched":
            assert found.department == "environment"
            return
        await perform(
            session,
            number=number,
            request=ActionRequest(action=Action.DISPATCH, department="environment"),
            staff=agent,
            catalog=runtime.catalog,
            clock=runtime.clock,
        )
    await runtime.relay.flush()


async def _deliveries(runtime: Runtime, prefix: str) -> list[Delivery]:
    async with runtime.db.read() as session:
        rows = await session.scalars(select(Delivery).where(Delivery.job_key.like(f"{prefix}%")))
        return list(rows)


async def test_fifty_dispatches_make_one_alert_and_one_digest(
    nruntime: Runtime, wecom_notifier: Notifier, fake_wecom: FakeWeCom, clock: FakeClock
) -> None:
    fake_wecom.users.add("handler1")
    await _member(nruntime, Role.HANDLER, "environment", "handler1")
    agent_id, _ = await staff(nruntime, Role.AGENT)
    numbers = []
    for i in range(50):
        number = await new_ticket(nruntime, external_id=f"m{i}", sender=_citizen(i))
        await _dispatch(nruntime, agent_id, number)
        numbers.append(number)
        clock.advance(seconds=1)
    await wecom_notifier.run_due()
    cards = [m for m in fake_wecom.to("handler1") if m["msgtype"] == "template_card"]
    assert len(cards) == 1 and numbers[0] in cards[0]["template_card"]["button_list"][0]["key"]
    held = [d for d in await _deliveries(nruntime, "staff:dispatched:") if d.status == "skipped"]
    assert len(held) == 49 and all("digest" in (d.last_error or "") for d in held)

    clock.advance(minutes=10)
    await wecom_notifier.run_due()
    (digest,) = [m for m in fake_wecom.to("handler1") if m["msgtype"] == "textcard"]
    text = digest["textcard"]["description"]
    assert "49 张新派工单" in text and "、".join(numbers[1:6]) in text and numbers[7] not in text
    await wecom_notifier.run_due()
    assert len(fake_wecom.to("handler1")) == 2  # nothing more, ever


async def test_urgent_alerts_bypass_the_digest(
    nruntime: Runtime, wecom_notifier: Notifier, fake_wecom: FakeWeCom, clock: FakeClock
) -> None:
    from notifier.deadlines import scan_deadlines

    fake_wecom.users.add("handler1")
    await _member(nruntime, Role.HANDLER, "environment", "handler1")
    agent_id, _ = await staff(nruntime, Role.AGENT)
    for i in range(3):
        number = await new_ticket(nruntime, external_id=f"r{i}", sender=_citizen(i))
        await _dispatch(nruntime, agent_id, number)
    async with nruntime.db.write() as session, session.begin():
        await session.execute(update(Ticket).values(due_at=clock() - timedelta(hours=1)))
    await wecom_notifier.run_due()  # the first dispatch alert; two more merged
    await scan_deadlines(wecom_notifier.jc, nruntime.redis.client)
    await wecom_notifier.run_due()
    reds = [
        m for m in fake_wecom.to("handler1") if "超期" in m["template_card"]["main_title"]["title"]
    ]
    assert len(reds) == 3


async def test_unaccepted_order_goes_to_the_lead_then_a_supervisor_once(
    nruntime: Runtime, wecom_notifier: Notifier, fake_wecom: FakeWeCom, clock: FakeClock
) -> None:
    fake_wecom.users |= {"lead1", "super1"}
    await _member(nruntime, Role.HANDLER, "environment", "lead1", lead=True)
    await _member(nruntime, Role.SUPERVISOR, None, "super1")
    agent_id, _ = await staff(nruntime, Role.AGENT)
    number = await new_ticket(nruntime)
    await _dispatch(nruntime, agent_id, number)
    async with nruntime.db.write() as session, session.begin():
        await session.execute(update(Ticket).values(accept_due_at=clock() - timedelta(minutes=1)))
    escalator = Escalator(wecom_notifier.jc, nruntime.redis.client)
    assert await escalator.scan() == 1  # the lead only
    clock.advance(hours=4)
    assert await escalator.scan() == 1  # now a supervisor
    assert await escalator.scan() == 0  # never twice
    await wecom_notifier.run_due()
    for user in ("lead1", "super1"):
        (card,) = [m for m in fake_wecom.to(user) if "超时未受理" in str(m)]
        assert number in card["template_card"]["horizontal_content_list"][0]["value"]
    sent = await _deliveries(nruntime, "escalate:accept:")
    assert sorted(d.status for d in sent) == ["sent", "sent"]


class _Days:
    def __init__(self, days: float) -> None:
        self.days = days

    def working_days_between(self, start: datetime, end: datetime) -> float:
        return self.days


@pytest.mark.parametrize(
    ("days", "step", "levels"),
    [(0.5, 1, []), (1.2, 1, [LEAD]), (2.0, 1, [LEAD, SUPERVISOR]), (3.0, 2, [LEAD])],
)
def test_overdue_goes_up_one_level_per_working_day(
    days: float, step: int, levels: list[str]
) -> None:
    ticket = Ticket(due_at=datetime(2026, 3, 10, 2, 0))
    rule = EscalationRule(overdue_step_days=step)
    assert overdue_levels(rule, ticket, ticket.due_at, _Days(days)) == levels  # type: ignore[arg-type]


async def test_outside_working_hours_waits_but_urgent_does_not(
    nruntime: Runtime, wecom_notifier: Notifier, fake_wecom: FakeWeCom, clock: FakeClock
) -> None:
    fake_wecom.users.add("handler1")
    await _member(nruntime, Role.HANDLER, "environment", "handler1", work_hours="14:00-17:30")
    agent_id, _ = await staff(nruntime, Role.AGENT)
    number = await new_ticket(nruntime)  # 10:00 in Shanghai: before their hours
    await _dispatch(nruntime, agent_id, number)
    await wecom_notifier.run_due()
    assert fake_wecom.to("handler1") == []
    (row,) = await _deliveries(nruntime, "staff:dispatched:")
    assert row.status == "postponed"
    clock.advance(hours=4, minutes=1)  # 14:01
    await wecom_notifier.run_due()
    assert len(fake_wecom.to("handler1")) == 1


async def test_team_alerts_reach_the_departments_robot_digested(
    nruntime: Runtime, fake_wecom: FakeWeCom, clock: FakeClock
) -> None:
    host = fake_wecom.base.removeprefix("http://")
    url = f"{fake_wecom.base}/cgi-bin/webhook/send?key={ROBOT_KEY}"
    async with nruntime.db.write() as session, session.begin():
        await set_robot_url(
            session, department="environment", url=url, catalog=nruntime.catalog,
            allowed_hosts=[host],
        )  # fmt: skip

    async def resolve(department: str) -> str | None:
        async with nruntime.db.read() as session:
            return await robot_url(session, department)

    agent_id, _ = await staff(nruntime, Role.AGENT)
    for i in range(3):
        number = await new_ticket(nruntime, external_id=f"t{i}", sender=_citizen(i))
        await _dispatch(nruntime, agent_id, number)
    async with httpx.AsyncClient() as http:
        robot = RobotSender(http, allowed_hosts=[host], resolve=resolve)
        notifier = Notifier(notifier_parts(nruntime), {"wecom_robot": robot})
        try:
            await notifier.run_due()
            assert len(fake_wecom.robot_posts) == 1
            clock.advance(minutes=10)
            await notifier.run_due()
        finally:
            await notifier.close()
    first, digest = (p["markdown"]["content"] for p in fake_wecom.robot_posts)
    assert "新派工单" in first and "2 张新派工单" in digest
    assert "key=" not in str(await _deliveries(nruntime, "team:"))


async def test_morning_list_on_a_working_day(
    nruntime: Runtime, wecom_notifier: Notifier, fake_wecom: FakeWeCom, clock: FakeClock
) -> None:
    fake_wecom.users.add("handler1")
    await _member(nruntime, Role.HANDLER, "environment", "handler1")
    agent_id, _ = await staff(nruntime, Role.AGENT)
    numbers = []
    for i, due in enumerate((timedelta(hours=-30), timedelta(hours=3), timedelta(days=3))):
        number = await new_ticket(nruntime, external_id=f"d{i}", sender=_citizen(i))
        await _dispatch(nruntime, agent_id, number)
        async with nruntime.db.write() as session, session.begin():
            query = update(Ticket).where(Ticket.number == number)
            await session.execute(query.values(due_at=clock() + due))
        numbers.append(number)
    morning = MorningList(wecom_notifier.jc, nruntime.redis.client, StaffAlertSettings())
    assert await morning.scan() == 1  # 10:00 on a Tuesday: past 08:30
    assert await morning.scan() == 0  # once a day
    await wecom_notifier.run_due()
    (card,) = [m for m in fake_wecom.to("handler1") if "早上好" in str(m)]
    text = card["textcard"]["description"]
    assert f"今天到期 1 件（{numbers[1]}）" in text and f"已超期 1 件（{numbers[0]}）" in text
    assert numbers[2] not in text
