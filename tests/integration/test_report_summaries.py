"""The report summaries give the same figures as the direct computation (`direct_kpis`,
`direct_hot`) on a generated data set whose events arrive over many days: before anything is
summarised, once summarised, with later replies, closures, ratings, returns, extensions and
edits not yet folded in, and after they are; and the hand-computed KPIs still hold."""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from intake.domain.clock import SHANGHAI
from intake.domain.models import Citizen, Ticket, TicketEvent
from intake.reports.hot import Rules, compute_hot, direct_hot
from intake.reports.kpis import compute_kpis, direct_kpis
from intake.reports.period import Period
from intake.reports.summary_builder import fold_changes, rebuild, refresh
from intake.reports.summary_worker import run_report_summaries
from intake.reports.tables import report_changes, report_daily, report_daily_topics, report_days
from intake.runtime import Runtime
from tests.integration import test_kpis as hand

TODAY = date(2026, 11, 20)
NOW = datetime.combine(TODAY, time(15), SHANGHAI)
UNITS = ["environment", "water", "hrss", None]
CHANNELS = ["web", "sms", "wechat", "phone"]
CATEGORIES = ["noise", "water-supply", "cooking-fumes", "heating", None]
STREETS = ["文化路街道", "建设大街街道", "河东街道", None]
TITLES = [
    "工地夜间施工噪音",
    "小区停水没有通知",
    "烧烤店油烟很大",
    "暖气不热室温低",
    "路口红绿灯故障",
]
CLOSINGS: list[dict[str, Any]] = [
    {"resolution": "done"},
    {"resolution": "direct_answer", "direct_answer": True},
    {"direct_answer": True, "kb_entry": "kb-1"},
    {"out_of_scope": "litigation"},
    {"resolution": "declined"},
]
RATINGS: list[dict[str, Any]] = [
    {"rating": "satisfied", "solved": True},
    {"rating": "basic", "solved": False},
    {"rating": "unsatisfied"},
    {"rating": "unsatisfied", "solved": False},
]


def _events(
    rng: random.Random, created: datetime, unit: str | None
) -> list[tuple[str, datetime, dict[str, Any]]]:
    """A plausible history, its steps hours or days apart, none after NOW."""
    out: list[tuple[str, datetime, dict[str, Any]]] = [("received", created, {})]
    at = created

    def later() -> datetime:
        nonlocal at
        at = at + timedelta(hours=rng.choice([0.2, 3, 11, 30, 80]))
        return at

    if rng.random() < 0.85:
        out.append(("accepted", later(), {}))
    if unit and rng.random() < 0.9:
        out.append(("dispatched", later(), {"department": unit}))
        if rng.random() < 0.2:
            out.append(("returned", later(), {"from_department": unit}))
        if rng.random() < 0.2:
            out.append(("extension_granted", later(), {"days": 3}))
        if rng.random() < 0.7:
            out.append(("replied", later(), {}))
    if rng.random() < 0.6:
        out.append(("closed", later(), rng.choice(CLOSINGS)))
        for _ in range(rng.choice([0, 0, 1, 2])):
            out.append(("rated", later(), rng.choice(RATINGS)))
    return [e for e in out if e[1] <= NOW]


async def generate(runtime: Runtime, count: int, *, seed: int, days: int = 40) -> None:
    rng = random.Random(seed)
    async with runtime.db.write() as session, session.begin():
        citizen = Citizen(name=None)
        session.add(citizen)
        await session.flush()
        for n in range(count):
            ago = rng.randrange(days)
            created = datetime.combine(TODAY - timedelta(days=ago), time(), SHANGHAI) + timedelta(
                minutes=rng.randrange(24 * 60)
            )
            created = min(created, NOW - timedelta(minutes=1))
            unit = rng.choice(UNITS)
            events = _events(rng, created, unit)
            kinds = {k for k, _, _ in events}
            status = (
                "closed" if "closed" in kinds else "replied" if "replied" in kinds else "accepted"
            )
            returned = "returned" in kinds
            ticket = Ticket(
                number=f"2026{seed:02d}{n:07d}",
                query_code="ABCDEFGH",
                citizen_id=citizen.id,
                channel=rng.choice(CHANNELS),
                request_type="complaint",
                status="returned" if returned and status != "closed" else status,
                category=rng.choice(CATEGORIES),
                department=None if returned else unit,
                district=rng.choice(["海港区", None]),
                street=rng.choice(STREETS),
                due_at=created + timedelta(days=rng.choice([1, 3, 5])) if unit else None,
                repeat_count=rng.choice([0, 0, 0, 1, 2]),
                title=rng.choice(TITLES),
                content="内容",
                co_departments=[],
                created_at=created,
                updated_at=created,
            )
            session.add(ticket)
            await session.flush()
            for kind, at, data in events:
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind=kind,
                        actor_kind="staff",
                        data=data,
                        published=True,
                        created_at=at,
                    )
                )


async def later_changes(runtime: Runtime, *, seed: int) -> None:
    """What happens after the days were summarised: replies, closures, ratings, returns and
    extensions of older tickets, triage edits, and new tickets."""
    rng = random.Random(seed)
    async with runtime.db.write() as session, session.begin():
        tickets = list(await session.scalars(select(Ticket).order_by(Ticket.id)))
        for ticket in rng.sample(tickets, len(tickets) // 3):
            at = NOW - timedelta(minutes=rng.randrange(1, 600))
            step = rng.randrange(6)
            if step == 0:
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind="replied",
                        actor_kind="staff",
                        data={},
                        created_at=at,
                    )
                )
                ticket.status = "replied"
            elif step == 1:
                closing = rng.choice(CLOSINGS)
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind="closed",
                        actor_kind="staff",
                        data=closing,
                        created_at=at,
                    )
                )
                ticket.status = "closed"
            elif step == 2:
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind="rated",
                        actor_kind="citizen",
                        data=rng.choice(RATINGS),
                        created_at=at,
                    )
                )
            elif step == 3 and ticket.department:
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind="returned",
                        actor_kind="staff",
                        data={"from_department": ticket.department},
                        created_at=at,
                    )
                )
                ticket.department, ticket.status = None, "returned"
            elif step == 4:
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind="extension_granted",
                        actor_kind="staff",
                        data={"days": 3},
                        created_at=at,
                    )
                )
                ticket.due_at = (ticket.due_at or at) + timedelta(days=3)
            else:
                ticket.category = rng.choice(CATEGORIES)
                ticket.title = rng.choice(TITLES) + "再次反映"
                ticket.repeat_count += 1
    await generate(runtime, 12, seed=seed + 1, days=1)  # today's new tickets


PERIODS = [
    Period(TODAY - timedelta(days=29), TODAY),
    Period(TODAY - timedelta(days=6), TODAY),
    Period(TODAY - timedelta(days=45), TODAY - timedelta(days=10)),
    Period(TODAY, TODAY),
]


async def assert_equal_to_direct(runtime: Runtime) -> None:
    async with runtime.db.read() as session:
        for period in PERIODS:
            for options in (
                {},
                {"channel": "sms"},
                {"department": "environment"},
                {"department": "hotline"},
            ):
                fast = (await compute_kpis(session, period=period, **options)).as_dict()
                direct = (await direct_kpis(session, period=period, **options)).as_dict()
                assert fast == direct, (period, options)
        for days in (1, 7, 15):
            period = Period.last_days(days, today=TODAY)
            rules = Rules(top=20, min_count=2, ratio=1.5)
            fast_hot = await compute_hot(session, period=period, today=TODAY, rules=rules)
            direct_hot_ = await direct_hot(session, period=period, today=TODAY, rules=rules)
            assert fast_hot == direct_hot_, days


async def pending(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(report_changes)) or 0)


async def test_summaries_equal_the_direct_computation(
    clean_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = clean_runtime
    await generate(runtime, 160, seed=25)
    assert await pending(runtime) > 0  # the triggers noted every new ticket and event
    await assert_equal_to_direct(runtime)  # nothing summarised: all live

    done = await refresh(runtime.db, now=NOW)
    assert done.days_built == 40 and await pending(runtime) == 0
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(report_daily)) > 0
    await assert_equal_to_direct(runtime)  # summaries only

    await later_changes(runtime, seed=7)
    assert await pending(runtime) > 0
    await assert_equal_to_direct(runtime)  # summaries corrected for the changed tickets
    with monkeypatch.context() as patch:  # too many to list: found by a subquery
        patch.setattr("intake.reports.summary_state.MAX_LISTED_CHANGES", 3)
        await assert_equal_to_direct(runtime)

    await fold_changes(runtime.db)
    assert await pending(runtime) == 0
    await assert_equal_to_direct(runtime)  # changes folded in

    # a day rebuilt from scratch leaves the figures as they are
    await rebuild(
        runtime.db, now=NOW, period=Period(TODAY - timedelta(days=8), TODAY - timedelta(days=2))
    )
    await assert_equal_to_direct(runtime)


async def test_reports_read_the_summaries(clean_runtime: Runtime) -> None:
    """Not a live count in disguise: a summed figure changed by hand shows in the report."""
    runtime = clean_runtime
    await generate(runtime, 40, seed=3)
    await refresh(runtime.db, now=NOW)
    period = Period(TODAY - timedelta(days=29), TODAY)
    async with runtime.db.read() as session:
        before = (await compute_kpis(session, period=period)).as_dict()["overall"]
    async with runtime.db.write() as session, session.begin():
        await session.execute(
            update(report_daily).values(closure_rate_n=report_daily.c.closure_rate_n + 1)
        )
        in_period = select(func.count()).where(report_daily.c.day >= period.first)
        rows = await session.scalar(in_period)
    async with runtime.db.read() as session:
        after = (await compute_kpis(session, period=period)).as_dict()["overall"]
    assert after["closure_rate"]["numerator"] == before["closure_rate"]["numerator"] + rows
    async with runtime.db.write() as session, session.begin():
        await session.execute(
            insert(report_daily_topics).values(day=TODAY, kind="words", topic="演示", count=99)
        )
    async with runtime.db.read() as session:
        hot = await compute_hot(session, period=period, today=TODAY)
    assert hot["words"][0] == {**hot["words"][0], "topic": "演示", "count": 99, "today": 99}


async def test_hand_computed_kpis_through_the_summaries(clean_runtime: Runtime) -> None:
    await hand.data_set(clean_runtime)
    done = await refresh(clean_runtime.db, now=datetime(2026, 12, 6, 12, tzinfo=SHANGHAI))
    assert done.days_built == 37  # October 31 to December 6
    async with clean_runtime.db.read() as session:
        report = (await compute_kpis(session, period=hand.NOVEMBER)).as_dict()
        days = await session.scalar(select(func.count()).select_from(report_days))
    assert days == 37 and await pending(clean_runtime) == 0
    assert hand.figures(report["overall"]) == hand.OVERALL
    assert {d: hand.figures(t) for d, t in report["departments"].items()} == hand.DEPARTMENTS


async def test_the_worker_keeps_the_summaries(clean_runtime: Runtime) -> None:
    runtime = clean_runtime
    await generate(runtime, 30, seed=11, days=3)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_report_summaries(runtime.db, clock=lambda: NOW, stop=stop, every_s=0.05)
    )
    try:
        for _ in range(200):
            if await pending(runtime) == 0:
                break
            await asyncio.sleep(0.05)
        assert await pending(runtime) == 0
        await later_changes(runtime, seed=5)
        for _ in range(200):
            if await pending(runtime) == 0:
                break
            await asyncio.sleep(0.05)
        assert await pending(runtime) == 0
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(report_days)) >= 3
    await assert_equal_to_direct(runtime)


@pytest.mark.parametrize("ago", [0, 3])
def test_period_windows_are_the_hotlines_days(ago: int) -> None:
    from intake.reports.summary_state import unbuilt_ranges

    period = Period(TODAY - timedelta(days=5), TODAY)
    built = [TODAY - timedelta(days=d) for d in range(6) if d != ago]
    ((start, end),) = unbuilt_ranges(period, built)
    assert start == datetime.combine(TODAY - timedelta(days=ago), time(), SHANGHAI)
    assert end - start == timedelta(days=1)


def test_rebuild_command(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from intake.reports.cli import report_app

    root = typer.Typer()
    root.add_typer(report_app, name="report")
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": ""}
    done = CliRunner().invoke(root, ["report", "rebuild"], env=env)
    assert done.exit_code == 0 and "1 days summarised" in done.stdout
    some = CliRunner().invoke(
        root, ["report", "rebuild", "--from", "2026-11-01", "--to", "2026-11-30"], env=env
    )
    assert some.exit_code == 0 and "30 days summarised" in some.stdout
    bad = CliRunner().invoke(root, ["report", "rebuild", "--from", "2026-11-31"], env=env)
    assert bad.exit_code == 2
