"""The pipeline's fast flush: every new row gets its own key and its children point at it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from intake.domain.models import Citizen, CitizenIdentity
from intake.runtime import Runtime
from intake.storage import bulk_insert


async def test_rows_and_their_children_line_up_with_their_keys(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two column sets (with and without a name), keys taken from the sequence, children that
    need their parent's key, and values of every kind (text, NULL, aware time)."""
    tables: list[str] = []
    insert = bulk_insert._insert

    def counted(session: Any, mapper: Any, objects: list[Any]) -> None:
        tables.append(mapper.local_table.name)
        insert(session, mapper, objects)

    monkeypatch.setattr(bulk_insert, "_insert", counted)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    async with runtime.db.write() as session, session.begin():
        bulk_insert.enable(session)
        for i in range(300):
            citizen = Citizen(name=f"市民{i}" if i % 3 else None, created_at=start)
            session.add(
                CitizenIdentity(
                    citizen=citizen,
                    kind="phone",
                    value=f"+86138{i:08d}",
                    unsubscribed_at=start + timedelta(minutes=i) if i % 2 else None,
                )
            )
        await session.flush()
    assert tables == ["citizens", "citizen_identities"]  # the bulk path, one call per table
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                select(CitizenIdentity.value, CitizenIdentity.unsubscribed_at, Citizen.name)
                .join(Citizen, Citizen.id == CitizenIdentity.citizen_id)
                .order_by(CitizenIdentity.id)
            )
        ).all()
    assert len(rows) == 300
    for i, (value, unsubscribed_at, name) in enumerate(rows):
        assert value == f"+86138{i:08d}"
        assert name == (f"市民{i}" if i % 3 else None)
        assert unsubscribed_at == (start + timedelta(minutes=i) if i % 2 else None)
