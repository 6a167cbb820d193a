"""The KPIs equal those computed by hand from a known data set (see the table in each
test); the period is of the hotline's own days, so the boundaries are tested in +08:00."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from intake.domain.enums import Role
from intake.domain.models import Citizen, Ticket, TicketEvent
from intake.reports.kpis import compute_kpis
from intake.reports.period import Period
from intake.runtime import Runtime
from tests.integration.actions import staff_member

CST = timezone(timedelta(hours=8))
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


Event = tuple[str, datetime, dict[str, Any]]


async def ticket(
    runtime: Runtime,
    n: int,
    *,
    created: datetime,
    channel: str = "web",
    status: str = "received",
    department: str | None = None,
    due: datetime | None = None,
    repeats: int = 0,
    events: list[Event] = (),  # type: ignore[assignment]
) -> None:
    async with runtime.db.write() as session, session.begin():
        citizen = Citizen(name=None)
        session.add(citizen)
        await session.flush()
        row = Ticket(
            number=f"20261100{n:05d}",
            query_code="ABCDEFGH",
            citizen_id=citizen.id,
            channel=channel,
            request_type="complaint",
            status=status,
            department=department,
            due_at=due,
            repeat_count=repeats,
            title="标题",
            content="内容",
            co_departments=[],
            created_at=created,
            updated_at=created,
        )
        session.add(row)
        await session.flush()
        for kind, when, data in [("received", created, {}), *events]:
            session.add(
                TicketEvent(
                    ticket_id=row.id,
                    kind=kind,
                    actor_kind="staff",
                    data=data,
                    text="答复" if kind in ("replied", "closed") else None,
                    published=True,
                    created_at=when,
                )
            )


async def data_set(runtime: Runtime) -> None:
    env, water = {"department": "environment"}, {"department": "water"}
    # T1 environment: dispatched the same day, replied in time, closed, satisfied and solved
    await ticket(
        runtime,
        1,
        created=at(2, 10),
        status="closed",
        department="environment",
        due=at(10, 18),
        events=[
            ("accepted", at(2, 11), {}),
            ("dispatched", at(2, 15), env),
            ("replied", at(5, 9), {}),
            ("closed", at(6, 9), {"resolution": "done"}),
            ("rated", at(7, 9), {"rating": "satisfied", "solved": True}),
        ],
    )
    # T2 environment: dispatched the next day, returned (its department cleared)
    await ticket(
        runtime,
        2,
        created=at(3, 22),
        status="returned",
        events=[
            ("accepted", at(3, 23), {}),
            ("dispatched", at(4, 9), env),
            ("returned", at(4, 12), {"from_department": "environment"}),
        ],
    )
    # T3 sms, the hotline: 直接答复 by an agent the same day; basically satisfied, not solved
    await ticket(
        runtime,
        3,
        created=at(5, 9),
        channel="sms",
        status="closed",
        events=[
            ("accepted", at(5, 9, 10), {}),
            ("closed", at(5, 9, 30), {"resolution": "direct_answer", "direct_answer": True}),
            ("rated", at(6, 9), {"rating": "basic", "solved": False}),
        ],
    )
    # T4 sms, water: received 23:50, dispatched after midnight (+08:00), extended, replied late
    await ticket(
        runtime,
        4,
        created=at(6, 23, 50),
        channel="sms",
        status="replied",
        department="water",
        due=at(15, 18),
        repeats=1,
        events=[
            ("accepted", at(6, 23, 55), {}),
            ("dispatched", at(7, 8), water),
            ("extension_granted", at(8, 10), {"days": 3}),
            ("replied", at(20, 9), {}),
        ],
    )
    # T5: out of scope, closed at intake by triage: 不予受理, neither accepted nor closed
    await ticket(
        runtime,
        5,
        created=at(7, 10),
        status="closed",
        events=[("closed", at(7, 10), {"out_of_scope": "litigation"})],
    )
    # T6: the knowledge base answered at intake (直接答复); unsatisfied
    await ticket(
        runtime,
        6,
        created=at(8, 10),
        status="closed",
        events=[
            ("closed", at(8, 10), {"direct_answer": True, "kb_entry": "kb-1"}),
            ("rated", at(9, 10), {"rating": "unsatisfied", "solved": False}),
        ],
    )
    # T7: the day before the period (+08:00), left out
    await ticket(
        runtime,
        7,
        created=at(31, 20, month=10),
        department="environment",
        events=[("dispatched", at(31, 21, month=10), env)],
    )
    # T8: accepted, still open, repeated twice
    await ticket(
        runtime,
        8,
        created=at(9, 10),
        status="accepted",
        repeats=2,
        events=[("accepted", at(9, 11), {})],
    )
    # T9 in (the last evening), T10 out (just after midnight of December 1, +08:00)
    await ticket(runtime, 9, created=at(30, 23, 30))
    await ticket(runtime, 10, created=at(1, 0, 10, month=12))


def figures(tally: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    return {name: (v["numerator"], v["denominator"]) for name, v in tally.items()}


OVERALL = {
    "repeat_rate": (2, 8),  # T4, T8 of T1-T6, T8, T9
    "sms_reply_rate": (1, 2),  # T3 answered the same day; T4 not
    "on_time_transfer": (1, 3),  # T1 of T1, T2, T4
    "return_rate": (1, 3),  # T2
    "extension_rate": (1, 3),  # T4
    "on_time_reply": (1, 2),  # T1 in time, T4 late
    "closure_rate": (3, 6),  # T1, T3, T6 of accepted T1, T2, T3, T4, T6, T8
    "direct_answer_rate": (2, 6),  # T3, T6
    "satisfaction_rate": (2, 3),  # satisfied + basic of three ratings
    "actual_resolution_rate": (1, 3),  # T1 solved
}
DEPARTMENTS = {
    "environment": {  # T1, T2
        "repeat_rate": (0, 2),
        "sms_reply_rate": (0, 0),
        "on_time_transfer": (1, 2),
        "return_rate": (1, 2),
        "extension_rate": (0, 2),
        "on_time_reply": (1, 1),
        "closure_rate": (1, 2),
        "direct_answer_rate": (0, 2),
        "satisfaction_rate": (1, 1),
        "actual_resolution_rate": (1, 1),
    },
    "water": {  # T4
        "repeat_rate": (1, 1),
        "sms_reply_rate": (0, 1),
        "on_time_transfer": (0, 1),
        "return_rate": (0, 1),
        "extension_rate": (1, 1),
        "on_time_reply": (0, 1),
        "closure_rate": (0, 1),
        "direct_answer_rate": (0, 1),
        "satisfaction_rate": (0, 0),
        "actual_resolution_rate": (0, 0),
    },
    "hotline": {  # T3, T5, T6, T8, T9
        "repeat_rate": (1, 5),
        "sms_reply_rate": (1, 1),
        "on_time_transfer": (0, 0),
        "return_rate": (0, 0),
        "extension_rate": (0, 0),
        "on_time_reply": (0, 0),
        "closure_rate": (2, 3),
        "direct_answer_rate": (2, 3),
        "satisfaction_rate": (1, 2),
        "actual_resolution_rate": (0, 2),
    },
}


async def test_kpis_equal_the_hand_computed_figures(clean_runtime: Runtime) -> None:
    await data_set(clean_runtime)
    async with clean_runtime.db.read() as session:
        report = (await compute_kpis(session, period=NOVEMBER)).as_dict()
        by_sms = (await compute_kpis(session, period=NOVEMBER, channel="sms")).as_dict()
        env = (await compute_kpis(session, period=NOVEMBER, department="environment")).as_dict()
    assert figures(report["overall"]) == OVERALL
    assert {d: figures(t) for d, t in report["departments"].items()} == DEPARTMENTS
    assert report["overall"]["closure_rate"]["rate"] == 0.5
    assert report["overall"]["sms_reply_rate"]["label"] == "短信回复率"
    assert figures(by_sms["overall"])["repeat_rate"] == (1, 2)
    assert figures(by_sms["overall"])["direct_answer_rate"] == (1, 2)
    assert figures(env["overall"]) == DEPARTMENTS["environment"]
    assert list(env["departments"]) == ["environment"]


async def test_reports_over_http_for_supervisors_only(
    app_client: httpx.AsyncClient, clean_runtime: Runtime
) -> None:
    await data_set(clean_runtime)
    _, supervisor = await staff_member(clean_runtime, Role.SUPERVISOR)
    _, agent = await staff_member(clean_runtime, Role.AGENT)
    url = "/api/v1/reports/kpis"
    params = {"from": "2026-11-01", "to": "2026-11-30"}
    refused = await app_client.get(url, params=params, headers={"Authorization": f"Bearer {agent}"})
    assert refused.status_code == 403
    assert (await app_client.get(url, params=params)).status_code == 401
    sup = {"Authorization": f"Bearer {supervisor}"}
    body = (await app_client.get(url, params=params, headers=sup)).json()
    assert figures(body["overall"]) == OVERALL
    exported = await app_client.get(url, params={**params, "format": "csv"}, headers=sup)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    closure = next(r for r in rows if r["department"] == "overall" and r["kpi"] == "closure_rate")
    assert (closure["numerator"], closure["denominator"], closure["rate"]) == ("3", "6", "0.5")
    bad = await app_client.get(url, params={"from": "2026-13-01"}, headers=sup)
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("@x", "'@x"),
        ("-2", "'-2"),
        ("普通", "普通"),
        (3, 3),
    ],
)
def test_no_cell_starts_a_formula(value: object, cell: object) -> None:
    from intake.reports.export import safe_cell

    assert safe_cell(value) == cell


async def test_ticket_exports_are_masked_audited_and_formula_safe(
    app_client: httpx.AsyncClient, clean_runtime: Runtime
) -> None:
    from openpyxl import load_workbook
    from sqlalchemy import select

    from intake.domain.models import Ticket as TicketRow
    from intake.privacy.audit import AuditEntry

    await data_set(clean_runtime)
    async with clean_runtime.db.write() as session, session.begin():
        first = await session.scalar(select(TicketRow).where(TicketRow.number == "2026110000001"))
        assert first is not None
        first.contact_phone, first.contact_name = "+8613812345678", "张三"
        first.title = '=HYPERLINK("http://evil")'
        second = await session.scalar(select(TicketRow).where(TicketRow.number == "2026110000002"))
        assert second is not None
        second.contact_phone, second.anonymous = "+8613900001111", True
    _, supervisor = await staff_member(clean_runtime, Role.SUPERVISOR)
    _, handler = await staff_member(clean_runtime, Role.HANDLER, "environment")
    url, params = "/api/v1/reports/tickets", {"from": "2026-11-01", "to": "2026-11-30"}
    sup = {"Authorization": f"Bearer {supervisor}"}
    denied = await app_client.get(
        url, params=params, headers={"Authorization": f"Bearer {handler}"}
    )
    assert denied.status_code == 403

    exported = await app_client.get(url, params=params, headers=sup)
    assert exported.status_code == 200
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")))}
    assert len(rows) == 8 and "2026110000007" not in rows and "2026110000010" not in rows
    assert rows["2026110000001"]["contact_phone"] == "'+86138****5678"  # not a formula
    assert rows["2026110000001"]["contact_name"] == "张*"
    assert rows["2026110000001"]["title"].startswith("'=")
    assert rows["2026110000002"]["contact_phone"] == ""
    assert "13812345678" not in exported.text and "13900001111" not in exported.text

    book = await app_client.get(url, params={**params, "format": "xlsx"}, headers=sup)
    sheet = load_workbook(io.BytesIO(book.content), read_only=True).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row]
    assert not any(isinstance(c, str) and c.startswith("=") for c in cells)
    assert "'+86138****5678" in cells

    kpi_book = await app_client.get(
        "/api/v1/reports/kpis", params={**params, "format": "xlsx"}, headers=sup
    )
    assert kpi_book.status_code == 200 and kpi_book.content[:2] == b"PK"
    async with clean_runtime.db.read() as session:
        actions = [e.action for e in await session.scalars(select(AuditEntry))]
    assert actions.count("export_tickets") == 2 and actions.count("export_kpis") == 1


async def test_monthly_briefing_renders_the_figures(clean_runtime: Runtime) -> None:
    from xml.etree import ElementTree as ET

    from intake.reports.briefing import Briefing, render_briefing

    await data_set(clean_runtime)
    async with clean_runtime.db.read() as session:
        page = await render_briefing(session, kind=Briefing.MONTHLY, today=date(2026, 12, 6))
    assert "12345热线月简报" in page and "2026-11-01 至 2026-11-30" in page
    assert "受理诉求 8 件" in page
    assert "<small>3/6</small>" in page  # the closure rate of all tickets
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    bars = ET.fromstring(svg).findall("{*}rect") or ET.fromstring(svg).findall("rect")
    assert len(bars) == 30
    assert Briefing.DAILY.period(date(2026, 12, 6)) == Period(date(2026, 12, 5), date(2026, 12, 5))
    assert Briefing.WEEKLY.period(date(2026, 12, 6)).first == date(2026, 11, 29)
