"""Token buckets (`intake.ratelimit.buckets`): in-process and in Redis, one bucket or several."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from intake.ratelimit.buckets import (
    Bucket,
    Grant,
    LocalTokenBucket,
    RedisTokenBucket,
    TokenBuckets,
)
from intake.redis.keys import Keys
from tests.conftest import REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.from_url(REDIS_URL)
    yield made
    await made.aclose()


async def test_local_bucket_burst_then_rate_and_partial_grants() -> None:
    clock = Clock()
    bucket = LocalTokenBucket(rate=10, burst=3, clock=clock)
    assert [await bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await bucket.try_take() == pytest.approx(0.1)  # empty: one token per 0.1 s
    clock.now += 0.1  # float rounding leaves it a hair short of a token: still a token
    assert await bucket.take(5) == Grant(1, 0.0)
    clock.now += 0.25
    assert await bucket.take(5) == Grant(2, 0.0)  # whole tokens only; half a token stays
    assert await bucket.take(1) == (0, pytest.approx(0.05))
    clock.now += 100  # refill caps at burst
    assert await bucket.take(10) == Grant(3, 0.0)


async def test_local_bucket_paces_acquire() -> None:
    bucket = LocalTokenBucket(rate=200, burst=5)
    start = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(45)))
    assert time.monotonic() - start >= (45 - 5) / 200 * 0.9


async def test_redis_bucket_shared_by_two_processes(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    key = Keys(redis_prefix).bucket("gateway:kannel")
    # one token a second: twelve round trips on a busy machine cannot refill one
    a = RedisTokenBucket(client, key, rate=1, burst=10)
    b = RedisTokenBucket(client, key, rate=1, burst=10)  # another worker, same gateway
    takes = [await (a if i % 2 else b).try_take() for i in range(12)]
    assert takes[:10] == [0.0] * 10 and all(0 < t <= 1 for t in takes[10:])
    granted, wait = await b.take(3)
    assert granted == 0 and 0 < wait <= 1
    # gone a minute after it would be full again: a full bucket and no bucket are the same
    assert 60_000 < await client.pttl(key) <= 70_000


async def test_redis_bucket_respects_rate_under_concurrency(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    bucket = RedisTokenBucket(client, Keys(redis_prefix).bucket("x"), rate=200, burst=10)
    start = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(110)))
    elapsed = time.monotonic() - start
    assert elapsed >= (110 - 10) / 200 * 0.9  # 0.5 s: the rate held
    assert elapsed < 3


async def test_redis_bucket_serves_queued_waiters_in_batches(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    key = Keys(redis_prefix).bucket("batch")
    bucket = RedisTokenBucket(client, key, rate=1, burst=400, batch=64)
    await asyncio.gather(*(bucket.acquire() for _ in range(400)))
    assert bucket.round_trips < 400 / 16  # not one Redis round trip per token
    other = RedisTokenBucket(client, key, rate=1, burst=400)  # another worker
    assert await other.try_take() > 0  # the tokens handed out locally were taken in Redis


async def test_several_buckets_give_together_or_not_at_all(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    buckets = TokenBuckets(client, Keys(redis_prefix))
    channel = ("channel:sms", Bucket(rate=2, burst=2))
    person = ("to:a", Bucket(rate=1, burst=5))
    assert await buckets.take([channel, person], now=1000.0) == Grant(1, 0.0)
    assert await buckets.take([channel, person], now=1000.0) == Grant(1, 0.0)
    assert await buckets.take([channel, person], now=1000.0) == (0, pytest.approx(0.5))
    assert await buckets.take([channel, person], now=1000.5) == Grant(1, 0.0)  # refilled one
    other = ("to:b", Bucket(rate=1, burst=5))
    assert await buckets.take([channel, other], now=1000.5) == (0, pytest.approx(0.5))
    assert await buckets.take([person], now=1000.5) == Grant(1, 0.0)  # nothing taken above
    # several tokens: as many whole ones as the emptiest bucket has (the channel's 2, of the
    # person's 3), from each
    assert await buckets.take([channel, person], want=5, now=1002.0) == Grant(2, 0.0)
    assert await buckets.take([person], want=5, now=1002.0) == Grant(1, 0.0)
    assert await buckets.take([person], want=5, now=1002.0) == (0, pytest.approx(1.0))
    assert await client.exists(Keys(redis_prefix).bucket("to:a"))
    assert await buckets.take([], now=1002.0) == Grant(1, 0.0)  # no bucket: no limit
