"""Many pushes waiting for their outcomes with one MGET per tick, on a real Redis."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict

import orjson
import redis.asyncio as aioredis

from intake.ingest.outcome_waiter import OutcomeWaiter
from intake.ingest.outcomes import Outcome, outcome_key
from intake.redis.keys import Keys


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


async def test_settle_runs_on_a_ticks_outcomes_before_their_waiters_wake(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    """The passive acknowledgement marks of every outcome of a tick, in one call, written
    before any of those replies can go out."""
    keys = Keys(key_prefix)
    settled: list[list[str]] = []

    async def settle(outcomes: list[Outcome]) -> None:
        settled.append(sorted(o.ticket or "" for o in outcomes))
        await asyncio.sleep(0.02)  # the waiters must still be asleep meanwhile

    waiter = OutcomeWaiter(redis_client, keys, poll_s=0.005, settle=settle)
    stored = {
        str(i): Outcome(intent="new_request", ticket=f"202611210000{i}", query_code="ABCDEFGH")
        for i in range(4)
    }
    for external_id, outcome in stored.items():
        await redis_client.set(
            outcome_key(keys, "wechat", external_id), orjson.dumps(asdict(outcome))
        )

    async def wait(external_id: str) -> tuple[Outcome | None, int]:
        result = await waiter.wait(channel="wechat", external_id=external_id, within_s=3)
        return result, len(settled)

    results = await asyncio.gather(*(wait(i) for i in stored))
    assert [r for r, _ in results] == list(stored.values())
    assert all(settles == 1 for _, settles in results)  # each woke after the one settle
    assert settled == [sorted(o.ticket or "" for o in stored.values())]
    await waiter.aclose()


async def test_outcomes_wait_while_settling_fails(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    """No reply claims a mark that was not written: the outcome is delivered once the
    settle succeeds (or the wait times out and the notifier acknowledges instead)."""
    keys = Keys(key_prefix)
    failures = [RuntimeError("redis away")]

    async def settle(outcomes: list[Outcome]) -> None:
        if failures:
            raise failures.pop()

    waiter = OutcomeWaiter(redis_client, keys, poll_s=0.005, settle=settle)
    outcome = Outcome(intent="new_request", ticket="2026112100009", query_code="ABCDEFGH")
    await redis_client.set(outcome_key(keys, "wechat", "9"), orjson.dumps(asdict(outcome)))
    assert await waiter.wait(channel="wechat", external_id="9", within_s=3) == outcome
    assert failures == []
    await waiter.aclose()
