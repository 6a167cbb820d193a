"""PostgreSQL drops the pool's connections (a restart, a failover, an idle timeout): the
service goes on without losing or doubling a message, and without pinging every checkout."""

from __future__ import annotations

import logging

import asyncpg
import pytest
from sqlalchemy import func, select

from intake.domain.models import Ticket
from intake.ingest.deadletter import list_dead
from intake.runtime import Runtime
from intake.storage import database as db_module
from tests.core.helpers import drain
from tests.core.test_pipeline import sms

pytestmark = pytest.mark.parametrize("backend", ["postgres"])


async def _tickets(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def _drop_the_pools_connections(runtime: Runtime) -> int:
    url = runtime.db.engine.url.set(drivername="postgresql")
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        return len(
            await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await admin.close()


async def test_idle_connections_are_checked_and_replaced(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await runtime.gateway.submit(sms("d1", "小区路灯不亮"))
    await drain(runtime)
    assert await _drop_the_pools_connections(runtime) >= 1
    monkeypatch.setattr(db_module, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
    with caplog.at_level(logging.INFO, logger="intake.pipeline.worker"):
        await runtime.gateway.submit(sms("d2", "楼下施工噪音扰民", phone="+8613900000077"))
        await drain(runtime)
    assert await _tickets(runtime) == 2
    assert "again" not in caplog.text and "one by one" not in caplog.text  # never noticed


async def test_a_connection_dropped_under_load_costs_one_batch_run(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Busy connections are not pinged: the batch that meets the dead one is run again."""
    await runtime.gateway.submit(sms("b1", "小区路灯不亮"))
    await drain(runtime)
    assert await _drop_the_pools_connections(runtime) >= 1
    with caplog.at_level(logging.INFO, logger="intake.pipeline.worker"):
        for i in range(3):
            await runtime.gateway.submit(
                sms(f"b{i + 2}", f"第{i}号楼停水", phone=f"+861390000010{i}")
            )
        await drain(runtime)
    assert await _tickets(runtime) == 4
    assert "again" in caplog.text and "one by one" not in caplog.text
    assert await list_dead(runtime.redis.client, runtime.redis.keys, count=10) == []
