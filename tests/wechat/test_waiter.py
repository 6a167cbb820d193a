"""Many pushes waiting for their outcomes with one MGET per tick, on a real Redis."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict

import orjson
import redis.asyncio as aioredis

from channels.wechat.waiter import OutcomeWaiter
from intake.keys import Keys
from intake.outcomes import Outcome, outcome_key


async def test_waiters_wake_when_their_outcome_lands_and_time_out_otherwise(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    waiter = OutcomeWaiter(redis_client, keys, poll_s=0.005)
    outcome = Outcome(intent="new_request", ticket="2026112100001", query_code="ABCDEFGH")

    async def land() -> None:
        await asyncio.sleep(0.05)
        await redis_client.set(outcome_key(keys, "wechat", "1"), orjson.dumps(asdict(outcome)))

    started = time.monotonic()
    results = await asyncio.gather(
        *(waiter.wait(channel="wechat", external_id="1", within_s=3) for _ in range(3)),
        waiter.wait(channel="wechat", external_id="2", within_s=0.2),
        land(),
    )
    assert results[:3] == [outcome] * 3  # a retry storm shares one wait
    assert results[3] is None
    assert time.monotonic() - started < 2.0  # woken by the outcome, not by the time limit
    assert waiter._waiting == {} and waiter._waiters == {}  # nothing left behind
    again = await waiter.wait(channel="wechat", external_id="1", within_s=1)
    assert again == outcome  # already stored: found on the next tick
    await waiter.aclose()
