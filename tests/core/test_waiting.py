"""Waiting for the citizen: a handler's question stops the deadline clock; the citizen's answer
(on any channel) starts it again and moves the deadline by the working time spent waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Ticket, TicketEvent
from intake.runtime import Runtime
from notifier.config import load_notify_settings
from notifier.planner import plan
from service.app import create_app
from tests.core.helpers import drain, request_body

MONDAY_9 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, an ordinary week
MONDAY_10 = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
WEDNESDAY_10 = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # two working days later


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def timed(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, Clock]]:
    clock = Clock(MONDAY_9)
    runtime = await Runtime.open(settings, clock=clock)
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield runtime, http, clock
    await runtime.close()


async def _headers(runtime: Runtime, role: Role, department: str | None) -> dict[str, str]:
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name=role.value, role=role, department=department, catalog=runtime.catalog
        )
    return {"Authorization": f"Bearer {token}"}


async def test_question_stops_the_clock_and_the_answer_moves_the_deadline(
    timed: tuple[Runtime, httpx.AsyncClient, Clock],
) -> None:
    runtime, client, clock = timed
    agent = await _headers(runtime, Role.AGENT, None)
    handler = await _headers(runtime, Role.HANDLER, "environment")
    created = await client.post("/api/v1/requests", json=request_body())
    number = created.json()["number"]
    await drain(runtime)
    for action, headers, body in (
        ("accept", agent, {}),
        ("dispatch", agent, {"department": "environment"}),
        ("accept", handler, {}),
    ):
        url = f"/api/v1/tickets/{number}/actions/{action}"
        assert (await client.post(url, json=body, headers=headers)).status_code == 200

    clock.now = MONDAY_10
    url = f"/api/v1/tickets/{number}/actions/ask"
    assert (await client.post(url, json={}, headers=handler)).status_code == 422  # no question
    asked = await client.post(url, json={"text": "请提供烧烤店的门牌号"}, headers=handler)
    assert asked.status_code == 200, asked.text
    detail = asked.json()
    assert detail["status"] == "in_progress"  # the status stays; only the clock stops
    assert detail["deadline"] == "paused"
    assert datetime.fromisoformat(detail["waiting_since"]) == MONDAY_10
    question = detail["events"][-1]
    assert question["kind"] == "info_requested" and question["public"] is True
    due_before = datetime.fromisoformat(detail["due_at"])

    # the notifier sends the question to the citizen
    event = {
        "event_id": str(question["id"]),
        "kind": "info_requested",
        "ticket": number,
        "channel": "web",
        "at": MONDAY_10.isoformat(),
        "data": orjson.dumps({"text": question["text"], "public": True}),
    }
    async with runtime.db.read() as session:
        jobs = await plan(session, event, load_notify_settings(runtime.settings.notify))
    assert [(j.template, j.key, j.text) for j in jobs] == [
        ("ask", f"ask:{question['id']}", "请提供烧烤店的门牌号")
    ]
    # and the citizen sees it on the public status page
    public = await client.get(f"/api/v1/requests/{number}", params={"phone": "13812345678"})
    assert any(item["text"] == "请提供烧烤店的门牌号" for item in public.json()["timeline"]), (
        public.json()
    )

    # the citizen answers by SMS two working days later: their only open ticket
    clock.now = WEDNESDAY_10
    await runtime.gateway.submit(
        InboundMessage(
            channel="sms",
            external_id="answer-1",
            sender=SenderIdentity(kind=IdentityKind.PHONE, value="+8613812345678"),
            kind=MessageKind.TEXT,
            received_at=WEDNESDAY_10,
            text="门牌号是幸福路12号",
        )
    )
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        resumed = await session.scalar(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "info_received"
            )
        )
    assert ticket.waiting_since is None
    assert runtime.triage is not None
    expected = runtime.triage.calendar.add_working_days(due_before, 2.0)
    assert ticket.due_at == expected and expected > due_before
    assert resumed is not None and resumed.public is False
    assert resumed.data["paused_working_days"] == 2.0
    after = (await client.get(f"/api/v1/tickets/{number}", headers=agent)).json()
    assert after["deadline"] in ("green", "yellow") and after["waiting_since"] is None


async def test_ask_is_refused_on_a_closed_ticket(
    timed: tuple[Runtime, httpx.AsyncClient, Clock],
) -> None:
    runtime, client, _ = timed
    agent = await _headers(runtime, Role.AGENT, None)
    number = (await client.post("/api/v1/requests", json=request_body())).json()["number"]
    await drain(runtime)
    base = f"/api/v1/tickets/{number}/actions"
    await client.post(f"{base}/accept", json={}, headers=agent)
    await client.post(f"{base}/close", json={"text": "已直接答复。"}, headers=agent)
    refused = await client.post(f"{base}/ask", json={"text": "还有问题吗"}, headers=agent)
    assert refused.status_code == 409
