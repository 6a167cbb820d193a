"""The helper consumer of a pipeline process: it reads while a full batch waits, not otherwise."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from intake.domain.models import Ticket
from intake.pipeline.backlog import run_with_helpers
from intake.runtime import Runtime
from tests.core.test_pipeline import sms


async def _tickets(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def _until_tickets(runtime: Runtime, count: int) -> None:
    deadline = time.monotonic() + 60
    while await _tickets(runtime) < count:
        assert time.monotonic() < deadline, f"{await _tickets(runtime)} tickets, not {count}"
        await asyncio.sleep(0.02)


async def _consumers(runtime: Runtime) -> dict[str, dict[str, int]]:
    rows = await runtime.redis.client.xinfo_consumers(runtime.redis.keys.inbound, "pipeline")
    return {row["name"]: row for row in rows}


@pytest.mark.parametrize("backend", ["postgres"])  # helpers run with PostgreSQL only
async def test_a_helper_shares_a_backlog_and_stays_out_of_a_trickle(runtime: Runtime) -> None:
    runtime.settings.pipeline.batch_size = 10
    runtime.settings.pipeline.linger_ms = 0
    backlog = 150
    for i in range(backlog):
        phone = f"+86139{i:08d}"
        await runtime.gateway.submit(sms(f"b{i}", f"第{i}号：路灯不亮", phone=phone))
    worker = runtime.pipeline_worker(consumer="main")
    helper = runtime.pipeline_worker(consumer="main-helper1")
    stop = asyncio.Event()
    running = asyncio.create_task(run_with_helpers(worker, [helper], stop))
    try:
        await _until_tickets(runtime, backlog)
        assert "main-helper1" in await _consumers(runtime)  # it took part of the backlog
        trickle_started = time.monotonic()
        for i in range(8):  # one at a time, each read finds less than a batch
            await runtime.gateway.submit(sms(f"t{i}", f"第{i}号：井盖缺失", phone=f"+86138{i:08d}"))
            await _until_tickets(runtime, backlog + i + 1)
        trickle_ms = (time.monotonic() - trickle_started) * 1000
        consumers = await _consumers(runtime)
        assert consumers["main-helper1"]["idle"] >= trickle_ms * 0.9
        assert consumers["main"]["idle"] < trickle_ms
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
    async with runtime.db.read() as session:
        numbers = list(await session.scalars(select(Ticket.number)))
    assert len(numbers) == len(set(numbers)) == backlog + 8
    assert all(c["pending"] == 0 for c in (await _consumers(runtime)).values())
