"""KPI and hot-topic reports on a large PostgreSQL database.

Creates a fresh database, fills it in the server (`generate_series`) with `--tickets` tickets
spread over a year and their events (received; most accepted and closed; a third dispatched
and replied; some returned, extended, rated), summarises them (`intake report rebuild`), then
times `compute_kpis` (last 30 days, one department, the whole year) and `compute_hot` (last
30 days) against the direct computation (`direct_kpis`, `direct_hot`) side by side, checking
that they agree; then again with `--changes` tickets changed or new since the summaries took
them in (what a report corrects for between two rounds of the worker). Drops the database.

    python bench/reports_bench.py [--tickets 1000000] [--repeat 3] [--changes 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.intake_bench import PG_ADMIN, database_url
from intake.config import Settings
from intake.reports.hot import compute_hot, direct_hot
from intake.reports.kpis import compute_kpis, direct_kpis
from intake.reports.period import Period
from intake.reports.summary_builder import fold_changes, rebuild
from intake.storage.database import Database, open_database
from intake.storage.migrate import upgrade

FILL = """
INSERT INTO citizens (id, name, created_at) VALUES (1, NULL, now());
INSERT INTO tickets (number, query_code, citizen_id, channel, request_type, category,
    department, district, street, status, urgent, supervision, repeat_count, title, content,
    anonymous, co_departments, due_at, created_at, updated_at)
SELECT '2026' || lpad(n::text, 9, '0'), 'ABCDEFGH', 1,
    (ARRAY['web','sms','wechat','phone','email'])[1 + n % 5],
    (ARRAY['consultation','complaint','help','report'])[1 + n % 4],
    (ARRAY['noise','water-supply','cooking-fumes','heating','wage-arrears','traffic'])[1 + n % 6],
    CASE WHEN n % 3 = 0 THEN (ARRAY['environment','water','hrss','transport'])[1 + n % 4] END,
    '海港区', (ARRAY['文化路街道','建设大街街道','河东街道','白塔岭街道'])[1 + n % 4],
    CASE WHEN n % 10 < 8 THEN 'closed' ELSE 'accepted' END, false, false, (n % 17 = 0)::int,
    (ARRAY['工地夜间施工噪音扰民','小区停水没有通知','烧烤店油烟很大','暖气不热室温低',
           '公司拖欠工资三个月','路口红绿灯故障'])[1 + n % 6],
    '内容', false, '[]'::json,
    $1::timestamptz - (n % 365) * interval '1 day' + interval '5 days',
    $1::timestamptz - (n % 365) * interval '1 day' - (n % 600) * interval '1 minute',
    $1::timestamptz - (n % 365) * interval '1 day'
FROM generate_series(1, $2) AS n;
"""
EVENTS = """
INSERT INTO ticket_events (ticket_id, kind, actor_kind, public, data, published, created_at)
SELECT t.id, e.kind, 'staff', true, e.data::json, true, t.created_at + e.delay
FROM tickets t CROSS JOIN LATERAL (VALUES
    ('received', '{}', interval '0', true),
    ('accepted', '{}', interval '10 minutes', t.id % 10 < 9),
    ('dispatched', '{"department": "environment"}', interval '3 hours', t.id % 3 = 0),
    ('returned', '{"from_department": "environment"}', interval '1 day', t.id % 33 = 0),
    ('extension_granted', '{"days": 3}', interval '2 days', t.id % 21 = 0),
    ('replied', '{}', interval '3 days', t.id % 3 = 0),
    ('closed', '{"resolution": "done"}', interval '4 days', t.id % 10 < 8),
    ('rated', '{"rating": "satisfied", "solved": true}', interval '5 days', t.id % 5 = 0)
) AS e(kind, data, delay, wanted)
WHERE e.wanted;
ANALYZE;
"""


LATER = """
INSERT INTO ticket_events (ticket_id, kind, actor_kind, public, data, published, created_at)
SELECT t.id, 'rated', 'citizen', true, '{"rating": "basic", "solved": false}'::json, true, $1
FROM tickets t WHERE t.created_at >= $2 ORDER BY t.id LIMIT $3
"""
NEW_TICKETS = """
INSERT INTO tickets (number, query_code, citizen_id, channel, request_type, category,
    department, district, street, status, urgent, supervision, repeat_count, title, content,
    anonymous, co_departments, created_at, updated_at)
SELECT '2027' || lpad(n::text, 9, '0'), 'ABCDEFGH', 1, 'web', 'complaint', 'noise', NULL,
    '海港区', '河东街道', 'received', false, false, 0, '夜间广场舞噪音扰民', '内容', false,
    '[]'::json, $1, $1
FROM generate_series(1, $2) AS n
"""


async def timed(db: Database, repeat: int, run: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    times, result = [], None
    for _ in range(repeat):
        async with db.read() as session:
            begin = time.perf_counter()
            result = await run(session)
            times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def plain(result: Any) -> Any:
    return result.as_dict() if hasattr(result, "as_dict") else result


async def compare(db: Database, repeat: int, today: date) -> None:
    month, year = Period.last_days(30, today=today), Period.last_days(365, today=today)
    cases: list[tuple[str, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]]] = [
        (
            "kpis, last 30 days",
            lambda s: compute_kpis(s, period=month),
            lambda s: direct_kpis(s, period=month),
        ),
        (
            "kpis, one department, 30 days",
            lambda s: compute_kpis(s, period=month, department="environment"),
            lambda s: direct_kpis(s, period=month, department="environment"),
        ),
        (
            "kpis, the whole year",
            lambda s: compute_kpis(s, period=year),
            lambda s: direct_kpis(s, period=year),
        ),
        (
            "hot topics, last 30 days",
            lambda s: compute_hot(s, period=month, today=today),
            lambda s: direct_hot(s, period=month, today=today),
        ),
    ]
    print(f"{'':32} {'summaries':>10} {'direct':>10} {'ratio':>7}  equal")
    for label, fast, direct in cases:
        fast_s, fast_result = await timed(db, repeat, fast)
        direct_s, direct_result = await timed(db, repeat, direct)
        same = plain(fast_result) == plain(direct_result)
        print(
            f"{label:32} {fast_s * 1000:8.0f} ms {direct_s * 1000:7.0f} ms "
            f"{direct_s / fast_s:6.0f}x  {same}"
        )


async def main(tickets: int, repeat: int, changes: int) -> None:
    name = f"intake_reports_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = open_database(Settings(database_url=database_url(name)))
    try:
        await upgrade(db.engine)
        today = date(2026, 12, 6)
        noon = datetime(2026, 12, 6, 4, tzinfo=UTC)  # 12:00 in Shanghai
        started = time.perf_counter()
        async with db.engine.begin() as conn:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            await pg.execute(FILL.split(";")[0])
            await pg.execute(FILL.split(";", 1)[1], noon, tickets)
            for statement in filter(str.strip, EVENTS.split(";")):
                await pg.execute(statement)
        print(f"filled {tickets:,} tickets in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        built = await rebuild(db, now=noon)
        print(
            f"intake report rebuild: {built.days_built} days in "
            f"{time.perf_counter() - started:.0f} s"
        )
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
        print("\nsummaries up to date:")
        await compare(db, repeat, today)

        # what arrives between two rounds of the worker: ratings of the last days' tickets
        # and new tickets, noted by the triggers, corrected for at read time
        async with db.engine.begin() as conn:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            await pg.execute(LATER, noon, noon - timedelta(days=10), changes // 2)
            await pg.execute(NEW_TICKETS, noon, changes - changes // 2)
        print(f"\n{changes:,} changed or new tickets not yet folded in:")
        await compare(db, repeat, today)
        started = time.perf_counter()
        folded = await fold_changes(db)
        print(
            f"\nfolded {folded:,} changed tickets in {time.perf_counter() - started:.1f} s "
            "(the worker's round)"
        )
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changes", type=int, default=1000, help="tickets changed meanwhile")
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.repeat, args.changes))
