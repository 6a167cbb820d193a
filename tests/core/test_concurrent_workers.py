"""Several pipeline workers at once: new citizens shared between their batches, retried batches,
and the planner statistics a young database needs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from intake.domain.models import Citizen, CitizenIdentity, Message, Ticket
from intake.ingest.deadletter import list_dead
from intake.pipeline.context import Batch, Context
from intake.pipeline.intent import count_senders
from intake.runtime import Runtime
from intake.storage.planner_statistics import PlannerStatistics
from tests.core.test_pipeline import sms

PHONES = [f"+86139000000{i:02d}" for i in range(12)]


async def _count(runtime: Runtime, model: type) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_two_workers_creating_the_same_citizens_neither_fails(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.settings.pipeline.batch_size = 8
    # neither takes over the other's entries: a batch slowed past the fixture's 200 ms by a
    # busy machine was claimed and run twice (deduplicated, but logged as a concurrent write)
    runtime.settings.pipeline.claim_idle_ms = 30_000
    total = 96
    for i in range(total):  # every batch of either worker holds senders new to the database
        phone = PHONES[i % len(PHONES)]
        await runtime.gateway.submit(sms(f"c{i}", f"第{i}号问题：小区路灯不亮", phone=phone))
    workers = [runtime.pipeline_worker(consumer=name) for name in ("w1", "w2")]
    await workers[0].ensure_group()

    async def work(worker: object) -> None:
        while await worker.run_once(block_ms=1):  # type: ignore[attr-defined]
            pass

    with caplog.at_level(logging.INFO, logger="intake.pipeline.worker"):
        await asyncio.wait_for(asyncio.gather(*(work(w) for w in workers)), timeout=60)
    # they waited for each other where they met: no batch had to be run again
    assert "concurrent write" not in caplog.text and "one by one" not in caplog.text
    assert await _count(runtime, Message) == total
    assert await _count(runtime, Citizen) == len(PHONES)
    assert await _count(runtime, CitizenIdentity) == len(PHONES)
    assert await _count(runtime, Ticket) >= len(PHONES)
    assert await list_dead(runtime.redis.client, runtime.redis.keys, count=10) == []
    assert await runtime.redis.client.xlen(runtime.redis.keys.inbound) == 0


async def test_a_batch_run_again_counts_each_sender_once(runtime: Runtime) -> None:
    """The flood guard's count is per message, so a batch that is run again (after meeting a
    concurrent writer) does not push its senders towards the limit."""
    batch = Batch(
        session=None,  # type: ignore[arg-type]  # counting needs Redis only
        gateway=runtime.gateway,
        clock=lambda: datetime.now(UTC),
        flood_per_hour=5,
    )
    messages = [sms(f"f{i}", f"第{i}条", phone=PHONES[0]) for i in range(3)]

    def contexts() -> list[Context]:
        return [Context(entry_id=f"1-{i}", message=m, batch=batch) for i, m in enumerate(messages)]

    first, again = contexts(), contexts()
    await count_senders(first)
    await count_senders(again)
    assert [c.sender_count for c in first] == [1, 2, 3]
    assert [c.sender_count for c in again] == [1, 2, 3]
    later = Context(entry_id="1-9", message=sms("f9", "又一条", phone=PHONES[0]), batch=batch)
    await count_senders([later])
    assert later.sender_count == 4


async def test_planner_statistics_follow_a_fast_growing_database(runtime: Runtime) -> None:
    statistics = PlannerStatistics(runtime.db)
    if runtime.db.dialect != "postgresql":
        assert not statistics.enabled and not await statistics.after_batch(10_000)
        return
    for i in range(3):
        await runtime.gateway.submit(sms(f"s{i}", "井盖缺失", phone=PHONES[i]))
    await runtime.pipeline_worker(consumer="s").drain(limit_s=30)
    async with runtime.db.write() as session, session.begin():
        await session.execute(text("ANALYZE messages"))  # as autovacuum would have: 3 rows
    assert not await statistics.after_batch(999)  # young: waits for 1,000 rows
    for i in range(3, 5):
        await runtime.gateway.submit(sms(f"s{i}", "井盖缺失", phone=PHONES[i]))
    await runtime.pipeline_worker(consumer="s").drain(limit_s=30)
    assert await statistics.after_batch(1)
    async with runtime.db.read() as session:
        rows = await session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('messages')")
        )
    assert rows == 5  # the statistics now describe the table as it is
    assert not await statistics.after_batch(1)  # and the next ANALYZE waits for a doubling
