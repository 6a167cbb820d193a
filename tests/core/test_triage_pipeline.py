"""Triage inside the pipeline: direct answers, emergencies, out of scope, deadlines, priority."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.config import Settings
from intake.domain.models import Ticket
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body


async def _submit(client: httpx.AsyncClient, runtime: Runtime, **body: str) -> Ticket:
    number = (await client.post("/api/v1/requests", json=request_body(**body))).json()["number"]
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == number).options(selectinload(Ticket.events))
        )
    assert ticket is not None
    return ticket


async def test_knowledge_base_answers_a_consultation(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await _submit(
        client,
        runtime,
        request_type="consultation",
        content="我的社保卡丢了，请问怎么补办？需要带什么材料？",
    )
    assert ticket.status == "closed" and ticket.category == "social-insurance"
    closed = ticket.events[-1]
    assert closed.kind == "closed" and closed.data["direct_answer"] is True
    assert closed.data["resolution"] == "direct_answer"  # counted as 直接答复
    assert closed.data["kb_entry"] == "sscard-replace" and "社保卡" in (closed.text or "")
    public = (
        await client.get(f"/api/v1/requests/{ticket.number}", params={"code": ticket.query_code})
    ).json()
    assert public["status_label"] == "已办结" and public["timeline"][-1]["text"] == closed.text


async def test_emergency_is_flagged_and_recorded(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await _submit(
        client, runtime, request_type="help", content="楼下饭店着火了，烟很大，好像有人被困"
    )
    assert ticket.status == "received" and ticket.urgent
    triaged = next(e for e in ticket.events if e.kind == "triaged")
    assert triaged.data["emergency"] == "119" and "119" in triaged.data["immediate_reply"]
    assert triaged.public is False
    assert any(d["step"] == "emergency" and d["rule_id"] for d in triaged.data["decisions"])


async def test_out_of_scope_gets_a_polite_reply(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await _submit(
        client,
        runtime,
        request_type="complaint",
        content="我对法院判决不服，想让你们帮我重新审理这个案子",
    )
    assert ticket.status == "closed" and ticket.category == "out-of-scope"
    assert "法院" in (ticket.events[-1].text or "")
    assert ticket.events[-1].data["out_of_scope"] == "litigation"
    assert ticket.events[-1].data["resolution"] == "declined"  # counted as 不予受理
    public = (
        await client.get(f"/api/v1/requests/{ticket.number}", params={"code": ticket.query_code})
    ).json()
    assert public["status_label"] == "不予受理"


async def test_complaint_routed_with_working_day_deadlines(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await _submit(
        client,
        runtime,
        request_type="complaint",
        content="东湖区幸福路的烧烤店每天深夜油烟很大，熏得没法开窗",
    )
    assert runtime.triage is not None
    calendar = runtime.triage.calendar
    assert ticket.category == "cooking-fumes" and ticket.district == "donghu"
    assert ticket.due_at == calendar.add_working_days(ticket.created_at, 15)
    assert ticket.accept_due_at == calendar.add_working_days(ticket.created_at, 1)
    triaged = next(e for e in ticket.events if e.kind == "triaged")
    assert triaged.data["suggested_department"] == "urban-management"


async def test_special_service_list_gives_priority(settings: Settings, tmp_path: Path) -> None:
    listed = tmp_path / "special.yaml"
    listed.write_text(
        'entries:\n  - {phone: "13812345678", category: disabled}\n', encoding="utf-8"
    )
    settings.triage.special_service_file = listed
    runtime = await Runtime.open(settings)
    try:
        from service.app import create_app

        app = create_app(settings, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            ticket = await _submit(client, runtime, content="小区路灯坏了好几天，晚上很黑")
        assert ticket.urgent
        triaged = next(e for e in ticket.events if e.kind == "triaged")
        assert "残疾人" in triaged.data["special_service"]
    finally:
        await runtime.close()


async def test_extension_adds_working_days(runtime: Runtime) -> None:
    assert runtime.triage is not None
    friday = datetime(2025, 9, 26, 7, 0, tzinfo=UTC)  # National Day week follows
    later = runtime.triage.calendar.add_working_days(friday, 3)
    # Sunday 28 September 2025 was a makeup working day (调休): it counts, Saturday does not
    assert later == datetime(2025, 9, 30, 7, 0, tzinfo=UTC)
