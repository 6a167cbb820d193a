"""Migration 0011 gives the tickets triaged before it their needs-human flag, from the flag
their `triaged` event recorded, unless somebody has classified them since."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from intake.config import Settings
from intake.storage.database import open_database
from intake.storage.migrate import upgrade
from tests.conftest import PG_DSN, unavailable

TICKET = (
    "INSERT INTO tickets (id, number, query_code, citizen_id, channel, request_type, status,"
    " urgent, supervision, repeat_count, title, content, anonymous, co_departments, created_at,"
    " updated_at) VALUES (:id, :number, 'Q', 1, 'web', 'complaint', :status, false, false, 0,"
    " 't', 'c', false, '[]', '2026-03-09 02:00:00+00', '2026-03-09 02:00:00+00')"
)
EVENT = (
    "INSERT INTO ticket_events (ticket_id, kind, actor_kind, public, data, published, created_at)"
    " VALUES (:ticket, :kind, 'system', false, :data, true, '2026-03-09 02:00:00+00')"
)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migration.db'}"
        return
    name = f"intake_migration_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(PG_DSN)
    except (OSError, asyncpg.PostgresError):
        unavailable(f"PostgreSQL at {PG_DSN}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_the_flag_is_taken_from_the_triaged_events(database_url: str) -> None:
    db = open_database(Settings(database_url=database_url))
    try:
        await upgrade(db.engine, "0010")
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO citizens (id, created_at) VALUES (1, '2026-03-09 02:00:00+00')")
            )
            tickets = {1: "received", 2: "received", 3: "received", 4: "closed"}
            for ticket, status in tickets.items():
                await conn.execute(
                    text(TICKET), {"id": ticket, "number": f"N{ticket}", "status": status}
                )
            for ticket, kind, data in (
                (1, "triaged", '{"needs_human": true}'),  # unsure: flagged
                (2, "triaged", '{"needs_human": false}'),
                (3, "triaged", '{"needs_human": true}'),
                (3, "categorized", '{"category": "noise"}'),  # classified since
                (4, "triaged", '{"needs_human": true}'),  # no longer waits for an agent
            ):
                await conn.execute(text(EVENT), {"ticket": ticket, "kind": kind, "data": data})
        await upgrade(db.engine)
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, needs_human FROM tickets ORDER BY id"))
            assert [(i, bool(flag)) for i, flag in rows] == [
                (1, True), (2, False), (3, False), (4, False)
            ]
    finally:
        await db.dispose()
