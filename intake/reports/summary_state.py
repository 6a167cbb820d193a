"""What a report reading the summaries needs to know first: which days of its period are
summarised, and which tickets changed since the summaries took them in. Both are read in
the same snapshot as the sums themselves, so that the job folding changes in meanwhile can
neither add a change twice nor lose it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from intake.reports.period import Period
from intake.reports.tables import report_changes, report_days

# above this many changed tickets (the summary worker stopped for long) they are found by a
# subquery instead of a list of ids: slower but just as exact
MAX_LISTED_CHANGES = 5000


@asynccontextmanager
async def snapshot(session: AsyncSession) -> AsyncIterator[AsyncConnection]:
    """A read-only connection whose statements all see one snapshot (REPEATABLE READ on
    PostgreSQL; a SQLite read transaction is one already)."""
    engine = session.bind
    assert isinstance(engine, AsyncEngine), "a report session is bound to an engine"
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


async def built_days(conn: AsyncConnection, period: Period) -> list[date]:
    found = await conn.scalars(
        select(report_days.c.day).where(
            report_days.c.day >= period.first, report_days.c.day <= period.last
        )
    )
    return sorted(found)


async def changed_tickets(conn: AsyncConnection) -> list[int] | None:
    """The ids of tickets changed since the summaries took them in; None when there are
    more than `MAX_LISTED_CHANGES` (then a query uses `changed_subquery()`)."""
    ids = await conn.scalars(
        select(report_changes.c.ticket_id).distinct().limit(MAX_LISTED_CHANGES + 1)
    )
    found = list(ids)
    return None if len(found) > MAX_LISTED_CHANGES else found


def changed_subquery() -> Select[tuple[int]]:
    return select(report_changes.c.ticket_id)


def unbuilt_ranges(period: Period, built: list[date]) -> list[tuple[datetime, datetime]]:
    """The period's days not summarised, as [start, end) times of runs of consecutive days."""
    done = set(built)
    ranges: list[tuple[datetime, datetime]] = []
    run_start: date | None = None
    day = period.first
    while day <= period.last + timedelta(days=1):
        missing = day <= period.last and day not in done
        if missing and run_start is None:
            run_start = day
        elif not missing and run_start is not None:
            run = Period(run_start, day - timedelta(days=1))
            ranges.append((run.start, run.end))
            run_start = None
        day += timedelta(days=1)
    return ranges
