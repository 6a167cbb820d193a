"""Kill the notifier process between "sent" and "recorded": nothing twice, nothing skipped."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.runtime import Runtime
from notifier.jobs import JobSpec
from notifier.models import Delivery
from notifier.service import Notifier
from tests.notifier.conftest import NOTIFY, FakeClock, Recorder
from tests.notifier.helpers import new_ticket

ROOT = Path(__file__).resolve().parents[2]
JOBS = 12
KILL_AT = 7


def _settings(runtime: Runtime) -> dict[str, object]:
    s = runtime.settings
    return {
        "data_dir": str(s.data_dir),
        "database_url": s.resolved_database_url,
        "redis_url": s.redis_url,
        "redis_prefix": s.redis_prefix,
        "notify": {**NOTIFY, "job_timeout": 1},
    }


async def _deliveries(runtime: Runtime) -> dict[str, str]:
    async with runtime.db.read() as session:
        rows = await session.scalars(select(Delivery).where(Delivery.job_key.like("reply:%")))
        return {row.job_key: row.status for row in rows}


@pytest.mark.parametrize("mode", ["during", "after"])
async def test_sigkill_between_sent_and_recorded(
    nruntime: Runtime, make_notifier: Callable[..., Notifier], clock: FakeClock, mode: str
) -> None:
    number = await new_ticket(nruntime, channel="sms")
    setup = make_notifier({"sms": Recorder("sms")})
    await setup.run_due()  # the acknowledgement, out of the way
    setup.jc.cfg.job_timeout = 1
    keys = [f"reply:{i}" for i in range(JOBS)]
    for key in keys:
        await setup.jc.enqueue(JobSpec(key=key, template="reply", number=number, text="答复"))
    config = {
        "settings": _settings(nruntime),
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
    assert await nruntime.redis.client.lrange(sink, 0, -1) == keys[:KILL_AT]
    before = await _deliveries(nruntime)
    assert len(before) == KILL_AT - 1 and set(before.values()) == {"sent"}

    restarted = make_notifier({"sms": _SinkAgain(nruntime)})
    deadline = time.monotonic() + 20
    while len(await _deliveries(nruntime)) < JOBS:  # the dead worker's job is swept back
        assert time.monotonic() < deadline, await _deliveries(nruntime)
        await restarted.sweep()
        await restarted.run_due()
        await asyncio.sleep(0.2)

    delivered = await nruntime.redis.client.lrange(sink, 0, -1)
    assert sorted(delivered) == sorted(keys)  # each job key exactly once
    after = await _deliveries(nruntime)
    killed = after.pop(keys[KILL_AT - 1])
    assert killed == ("unconfirmed" if mode == "during" else killed)
    assert killed in {"sent", "unconfirmed"} and set(after.values()) == {"sent"}


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
