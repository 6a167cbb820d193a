"""Kill the notifier process between "sent" and "recorded": nothing twice, nothing skipped.

A send cut off by the kill ("sending" in Redis) is recorded `unconfirmed` for an agent to
check, never repeated; a send that returned ("sent:<id>") is recorded as sent after restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.domain.models import TicketEvent
from intake.runtime import Runtime
from notifier.jobs import JobSpec
from notifier.models import Delivery
from notifier.service import Notifier
from tests.notifier.conftest import NOTIFY, FakeClock, Recorder
from tests.notifier.helpers import new_ticket

ROOT = Path(__file__).resolve().parents[2]
JOBS = 12
KILL_AT = 7
TIMEOUT = 3  # s: the dead worker's jobs are swept back this long after the kill


def _settings(runtime: Runtime, batch: int) -> dict[str, object]:
    s = runtime.settings
    return {
        "data_dir": str(s.data_dir),
        "database_url": s.resolved_database_url,
        "redis_url": s.redis_url,
        "redis_prefix": s.redis_prefix,
        "notify": {**NOTIFY, "job_timeout": TIMEOUT, "job_batch": batch, "concurrency": batch},
    }


async def _deliveries(runtime: Runtime) -> dict[str, str]:
    async with runtime.db.read() as session:
        rows = await session.scalars(select(Delivery).where(Delivery.job_key.like("reply:%")))
        return {row.job_key: row.status for row in rows}


async def _notified(runtime: Runtime) -> Counter[str]:
    """NOTIFIED ticket events per job key (a sent or unconfirmed delivery writes one)."""
    async with runtime.db.read() as session:
        found = await session.scalars(select(TicketEvent).where(TicketEvent.kind == "notified"))
        return Counter(e.data["job_key"] for e in found if e.data["job_key"].startswith("reply:"))


@pytest.mark.parametrize(
    ("mode", "batch"), [("during", 1), ("after", 1), ("record", 1), ("during", 4), ("record", 4)]
)
async def test_sigkill_between_sent_and_recorded(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    clock: FakeClock,
    mode: str,
    batch: int,
) -> None:
    """The state in Redis at the kill decides: "sending" (cut off) is recorded unconfirmed and
    never repeated; "sent:" (went out, not recorded) is recorded sent and never repeated; no
    state is sent after the restart. batch 1 runs the jobs one by one, batch 4 side by side."""
    number = await new_ticket(nruntime, channel="sms")
    setup = make_notifier({"sms": Recorder("sms")})
    await setup.run_due()  # the acknowledgement, out of the way
    setup.jc.cfg.job_timeout = TIMEOUT
    keys = [f"reply:{i}" for i in range(JOBS)]
    for key in keys:
        await setup.jc.enqueue(JobSpec(key=key, template="reply", number=number, text="答复"))
    config = {
        "settings": _settings(nruntime, batch),
        "now": clock().isoformat(),
        "kill_key": keys[KILL_AT - 1],
        "mode": mode,
    }
    child = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("kill_child.py")), json.dumps(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, (mode, child.stdout, child.stderr[-3000:])
    sink = f"{nruntime.redis.keys.prefix}sink"
    before = await _deliveries(nruntime)
    sent_before = await nruntime.redis.client.lrange(sink, 0, -1)
    at_kill = {key: await setup.jc.state.get(key, "sms") for key in keys}
    if batch == 1:
        assert sent_before == keys[:KILL_AT]
        assert before == {k: "sent" for k in keys[: KILL_AT - 1]}
    assert len(sent_before) == len(set(sent_before))
    assert set(before.values()) <= {"sent"} and set(before) <= set(sent_before)
    cut_off = {k for k, state in at_kill.items() if state == "sending"}
    assert len(cut_off) <= batch  # only sends in flight at the kill are in doubt
    if mode == "during":
        assert keys[KILL_AT - 1] in cut_off
    unrecorded = {k for k, v in at_kill.items() if (v or "").startswith("sent:")} - set(before)
    if mode == "record":  # went out, marked, not recorded: the case in the test's name
        assert keys[KILL_AT - 1] in unrecorded and len(unrecorded) == batch

    restarted = make_notifier({"sms": _SinkAgain(nruntime)})
    deadline = time.monotonic() + 30
    while len(await _deliveries(nruntime)) < JOBS:  # the dead worker's jobs are swept back
        assert time.monotonic() < deadline, await _deliveries(nruntime)
        await restarted.sweep()
        await restarted.run_due()
        await asyncio.sleep(0.2)

    delivered = Counter(await nruntime.redis.client.lrange(sink, 0, -1))
    after = await _deliveries(nruntime)
    for key in keys:
        if key in cut_off:  # at most once, and flagged for an agent: never sent again
            assert after[key] == "unconfirmed" and delivered[key] <= 1, key
        else:  # sent before the kill (recorded or not) or after the restart: exactly once
            assert after[key] == "sent" and delivered[key] == 1, key
    assert await _notified(nruntime) == Counter(keys)  # each outcome on the ticket, once


class _SinkAgain:
    """The restarted process's sender: the same sink."""

    channel = "sms"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def send(self, message):  # type: ignore[no-untyped-def]
        from channels.base import SendResult

        await self.runtime.redis.client.rpush(
            f"{self.runtime.redis.keys.prefix}sink", message.job_key
        )
        return SendResult(provider_id=f"sink-{message.job_key}")
