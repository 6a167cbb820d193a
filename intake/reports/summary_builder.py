"""Building the report summaries (`intake.reports.tables`) and keeping them exact.

`build_days` counts whole days from their tickets (what `intake report rebuild` does, and
what the worker does for each new day); `fold_changes` takes in the tickets noted in
`report_changes` since: their old share out of the sums, their present one in, their ids
deleted. Each step is one transaction in one snapshot (REPEATABLE READ on PostgreSQL, the
write lock on SQLite), so a change committed meanwhile keeps its note for the next round.
On PostgreSQL an advisory lock lets one process at a time do this.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from intake.domain.models import Ticket
from intake.reports.hot import topics_of
from intake.reports.kpis import contributions
from intake.reports.period import MAX_DAYS, Period, local_day
from intake.reports.tables import (
    SUM_COLUMNS,
    TICKETS,
    report_changes,
    report_daily,
    report_daily_topics,
    report_days,
    report_ticket_facts,
)
from intake.storage.database import Database

log = logging.getLogger(__name__)

LOCK_ID = 0x12345 + 25  # PostgreSQL advisory lock of the summary builders
DAYS_PER_TRANSACTION = 7
CHANGES_PER_TRANSACTION = 2000
BATCH = 1000  # ids per IN list
TIDY_AFTER = 10_000  # notes folded in a round after which they are vacuumed at once
# days summarised without being asked: what a report can reach (a period and the one before)
HISTORY_DAYS = 2 * MAX_DAYS

DailyKey = tuple[date, str, str]  # day, unit, channel
TopicKey = tuple[date, str, str]  # day, kind, topic


@dataclass(frozen=True, slots=True)
class Fact:
    """What one ticket adds to the summaries."""

    ticket_id: int
    day: date
    unit: str
    channel: str
    sums: tuple[int, ...]
    topics: dict[str, list[str]]

    def row(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "day": self.day,
            "unit": self.unit,
            "channel": self.channel,
            **dict(zip(SUM_COLUMNS, self.sums, strict=True)),
            "category": next(iter(self.topics["categories"]), None),
            "street": next(iter(self.topics["streets"]), None),
            "words": self.topics["words"],
        }

    @classmethod
    def of_row(cls, row: Any) -> Fact:
        return cls(
            row.ticket_id,
            _as_date(row.day),
            row.unit,
            row.channel,
            tuple(int(row._mapping[c]) for c in SUM_COLUMNS),
            {
                "categories": [row.category] if row.category else [],
                "streets": [row.street] if row.street else [],
                "words": list(row.words),
            },
        )


@dataclass
class Deltas:
    """Changes to the per-day sums and topic counts, applied in one go."""

    daily: defaultdict[DailyKey, list[int]]
    topics: defaultdict[TopicKey, int]

    @classmethod
    def empty(cls) -> Deltas:
        return cls(defaultdict(lambda: [0] * len(SUM_COLUMNS)), defaultdict(int))

    def add(self, fact: Fact, sign: int) -> None:
        sums = self.daily[(fact.day, fact.unit, fact.channel)]
        for i, value in enumerate(fact.sums):
            sums[i] += sign * value
        for kind, found in fact.topics.items():
            for topic in found:
                self.topics[(fact.day, kind, topic)] += sign


@dataclass(frozen=True, slots=True)
class Progress:
    days_built: int = 0
    tickets_folded: int = 0


@asynccontextmanager
async def _builder_lock(db: Database, *, wait: bool) -> AsyncIterator[bool]:
    """One builder at a time on PostgreSQL (session lock on a connection of its own);
    SQLite's write transactions are one at a time already."""
    if db.dialect != "postgresql":
        yield True
        return
    async with db.engine.connect() as conn:
        take = func.pg_advisory_lock if wait else func.pg_try_advisory_lock
        got = await conn.scalar(select(take(LOCK_ID)))
        await conn.commit()
        try:
            yield got is not False
        finally:
            if got is not False:
                await conn.scalar(select(func.pg_advisory_unlock(LOCK_ID)))
                await conn.commit()


@asynccontextmanager
async def _transaction(db: Database) -> AsyncIterator[AsyncConnection]:
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


async def refresh(db: Database, *, now: datetime, max_days: int | None = None) -> Progress:
    """What the worker does each round: summarise the days not yet summarised (today's
    first among them, then back to `HISTORY_DAYS` ago, at most `max_days` of them), then
    fold in the changed tickets. Returns at once when another process is at it."""
    today = local_day(now)
    async with _builder_lock(db, wait=False) as mine:
        if not mine:
            return Progress()
        async with db.engine.connect() as conn:
            first = await conn.scalar(select(func.min(Ticket.created_at)))
            built = {_as_date(d) for d in await conn.scalars(select(report_days.c.day))}
            await conn.rollback()
        start = max(local_day(first) if first else today, today - timedelta(HISTORY_DAYS - 1))
        recent_first = (today - timedelta(days=i) for i in range((today - start).days + 1))
        missing = [d for d in recent_first if d not in built][:max_days]
        for chunk in _runs(sorted(missing)):
            await _build(db, chunk, now)
        folded = await _fold_all(db)
        if missing or folded >= TIDY_AFTER:
            await _tidy(db)
    return Progress(len(missing), folded)


async def rebuild(db: Database, *, now: datetime, period: Period | None = None) -> Progress:
    """Count the days of `period` (default: from the first ticket to today) afresh."""
    async with _builder_lock(db, wait=True):
        if period is None:
            async with db.engine.connect() as conn:
                first = await conn.scalar(select(func.min(Ticket.created_at)))
                await conn.rollback()
            today = local_day(now)
            period = Period(local_day(first) if first else today, today)
        days = [period.first + timedelta(days=i) for i in range(period.days)]
        for chunk in _runs(days):
            await _build(db, chunk, now)
        folded = await _fold_all(db)
        await _tidy(db)
    return Progress(len(days), folded)


async def fold_changes(db: Database) -> int:
    """Fold in every ticket noted as changed; returns how many tickets."""
    async with _builder_lock(db, wait=True):
        return await _fold_all(db)


async def _tidy(db: Database) -> None:
    """On PostgreSQL, vacuum the notes after many were deleted (every report reads them, and
    a table of dead rows is read whole until vacuumed) and refresh the planner's counts."""
    if db.dialect != "postgresql":
        return
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(
            "VACUUM ANALYZE report_changes, report_days, report_daily, report_daily_topics"
        )


def _runs(days: list[date]) -> Iterable[Period]:
    """Consecutive days in runs of at most `DAYS_PER_TRANSACTION`."""
    run: list[date] = []
    for day in days:
        if run and (day - run[-1] != timedelta(days=1) or len(run) >= DAYS_PER_TRANSACTION):
            yield Period(run[0], run[-1])
            run = []
        run.append(day)
    if run:
        yield Period(run[0], run[-1])


async def _build(db: Database, period: Period, now: datetime) -> None:
    days = [period.first + timedelta(days=i) for i in range(period.days)]
    within = (Ticket.created_at >= period.start) & (Ticket.created_at < period.end)
    async with _transaction(db) as conn:
        for table in (report_ticket_facts, report_daily, report_daily_topics, report_days):
            await conn.execute(delete(table).where(table.c.day.in_(days)))
        # a ticket whose intake time moved here from another summarised day: out of that day
        tickets_here = select(Ticket.id).where(within)
        moved = Deltas.empty()
        for row in await conn.execute(
            select(report_ticket_facts).where(report_ticket_facts.c.ticket_id.in_(tickets_here))
        ):
            moved.add(Fact.of_row(row), -1)
        await conn.execute(
            delete(report_ticket_facts).where(report_ticket_facts.c.ticket_id.in_(tickets_here))
        )
        await _apply(conn, moved)
        facts = await _facts(conn, within)
        fresh = Deltas.empty()
        for fact in facts:
            fresh.add(fact, 1)
        await _insert_facts(conn, facts)
        await _insert_sums(conn, fresh)
        await conn.execute(insert(report_days), [{"day": d, "built_at": now} for d in days])
        # their notes are taken in: this snapshot saw every change they stand for
        await conn.execute(
            delete(report_changes).where(report_changes.c.ticket_id.in_(tickets_here))
        )
    log.info("report summaries: %s..%s built, %d tickets", period.first, period.last, len(facts))


async def _fold_all(db: Database) -> int:
    total = 0
    while True:
        async with _transaction(db) as conn:
            folded = await _fold(conn)
        total += folded
        if folded == 0:
            return total


async def _fold(conn: AsyncConnection) -> int:
    notes = (
        await conn.execute(
            select(report_changes.c.id, report_changes.c.ticket_id)
            .order_by(report_changes.c.id)
            .limit(CHANGES_PER_TRANSACTION)
        )
    ).all()
    if not notes:
        return 0
    ids = sorted({ticket for _, ticket in notes})
    built = {_as_date(d) for d in await conn.scalars(select(report_days.c.day))}
    deltas = Deltas.empty()
    f = report_ticket_facts
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        for row in await conn.execute(select(f).where(f.c.ticket_id.in_(batch))):
            deltas.add(Fact.of_row(row), -1)
        await conn.execute(delete(f).where(f.c.ticket_id.in_(batch)))
        present = [fact for fact in await _facts(conn, Ticket.id.in_(batch)) if fact.day in built]
        for fact in present:
            deltas.add(fact, 1)
        if present:
            await conn.execute(insert(f), [fact.row() for fact in present])
    await _apply(conn, deltas)
    note_ids = [note for note, _ in notes]
    for start in range(0, len(note_ids), BATCH):
        chunk = note_ids[start : start + BATCH]
        await conn.execute(delete(report_changes).where(report_changes.c.id.in_(chunk)))
    return len(ids)


async def _facts(conn: AsyncConnection, where: Any) -> list[Fact]:
    """The present facts of the tickets matching `where`."""
    dialect = conn.dialect.name
    rows = (await conn.execute(contributions(where, None, dialect))).all()
    fields = {
        row[0]: tuple(row[1:])
        for row in await conn.execute(
            select(Ticket.id, Ticket.category, Ticket.district, Ticket.street, Ticket.title).where(
                where
            )
        )
    }
    ordered = [row for row in rows if row.id in fields]
    # always in a thread: the first cut loads jieba's dictionary, seconds the event loop of
    # `intake run` (HTTP beside this worker) must not wait
    titles = [fields[row.id] for row in ordered]
    topics = await asyncio.to_thread(lambda: [topics_of(*title) for title in titles])
    return [
        Fact(
            row.id,
            local_day(row.created_at),
            row.unit,
            row.channel,
            tuple(int(v) for v in row[4:]),
            found,
        )
        for row, found in zip(ordered, topics, strict=True)
    ]


async def _insert_facts(conn: AsyncConnection, facts: list[Fact]) -> None:
    """Plain inserts; on PostgreSQL by COPY, many times faster for a whole year of tickets."""
    if conn.dialect.name != "postgresql":
        for start in range(0, len(facts), BATCH):
            rows = [f.row() for f in facts[start : start + BATCH]]
            await conn.execute(insert(report_ticket_facts), rows)
        return
    columns = [c.name for c in report_ticket_facts.columns]
    records = []
    for fact in facts:
        row = fact.row()
        row["words"] = orjson.dumps(row["words"]).decode()
        records.append(tuple(row[c] for c in columns))
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        report_ticket_facts.name, records=records, columns=columns
    )


async def _insert_sums(conn: AsyncConnection, deltas: Deltas) -> None:
    """Fresh days: nothing to add to, plain inserts."""
    daily = [
        {"day": d, "unit": u, "channel": c, **dict(zip(SUM_COLUMNS, sums, strict=True))}
        for (d, u, c), sums in deltas.daily.items()
        if sums[SUM_COLUMNS.index(TICKETS)] > 0
    ]
    topics = [
        {"day": d, "kind": k, "topic": t, "count": n}
        for (d, k, t), n in deltas.topics.items()
        if n > 0
    ]
    for table, rows in ((report_daily, daily), (report_daily_topics, topics)):
        for start in range(0, len(rows), BATCH):
            await conn.execute(insert(table), rows[start : start + BATCH])


async def _apply(conn: AsyncConnection, deltas: Deltas) -> None:
    """Add the deltas to the sums (rows created as needed); rows left with no ticket go."""
    daily = [
        {"day": d, "unit": u, "channel": c, **dict(zip(SUM_COLUMNS, sums, strict=True))}
        for (d, u, c), sums in deltas.daily.items()
        if any(sums)
    ]
    topics = [
        {"day": d, "kind": k, "topic": t, "count": n} for (d, k, t), n in deltas.topics.items() if n
    ]
    await _upsert_added(conn, report_daily, ("day", "unit", "channel"), SUM_COLUMNS, daily)
    await _upsert_added(conn, report_daily_topics, ("day", "kind", "topic"), ("count",), topics)
    d, t = report_daily, report_daily_topics
    if daily:
        keys = [(r["day"], r["unit"], r["channel"]) for r in daily]
        for start in range(0, len(keys), BATCH):
            await conn.execute(
                delete(d).where(
                    tuple_(d.c.day, d.c.unit, d.c.channel).in_(keys[start : start + BATCH]),
                    d.c[TICKETS] <= 0,
                )
            )
    if topics:
        days = sorted({r["day"] for r in topics})
        await conn.execute(delete(t).where(t.c.day.in_(days), t.c.count <= 0))


async def _upsert_added(
    conn: AsyncConnection,
    table: Table,
    keys: tuple[str, ...],
    values: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), BATCH):
        statement = dialect.insert(table).values(rows[start : start + BATCH])
        statement = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: table.c[c] + statement.excluded[c] for c in values},
        )
        await conn.execute(statement)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
