from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from channels.sms.ratelimit import LocalTokenBucket, RedisTokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_local_bucket_burst_then_rate() -> None:
    clock = Clock()
    bucket = LocalTokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert abs(bucket.try_take() - 0.1) < 1e-9  # empty: one token per 0.1 s
    clock.now += 0.1
    assert bucket.try_take() == 0.0
    clock.now += 100  # refill caps at burst
    assert [bucket.try_take() for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.try_take() > 0


async def test_local_bucket_paces_acquire() -> None:
    bucket = LocalTokenBucket(rate=200, burst=5)
    start = time.monotonic()
    for _ in range(45):
        await bucket.acquire()
    assert time.monotonic() - start >= (45 - 5) / 200 * 0.9


async def test_redis_bucket_shared_by_two_limiters(sms_redis: tuple[Redis, str]) -> None:
    redis, prefix = sms_redis
    key = f"{prefix}rate:kannel"
    # one token a second: twelve round trips on a busy machine cannot refill one
    a = RedisTokenBucket(redis, key, rate=1, burst=10)
    b = RedisTokenBucket(redis, key, rate=1, burst=10)  # another worker, same gateway
    takes = [await (a if i % 2 else b).try_take() for i in range(12)]
    assert takes[:10] == [0.0] * 10 and all(t > 0 for t in takes[10:])
    assert await redis.exists(key) and 0 < await redis.pttl(key) <= 11_000


async def test_redis_bucket_respects_rate_under_concurrency(
    sms_redis: tuple[Redis, str],
) -> None:
    redis, prefix = sms_redis
    bucket = RedisTokenBucket(redis, f"{prefix}rate:x", rate=200, burst=10)
    start = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(110)))
    elapsed = time.monotonic() - start
    assert elapsed >= (110 - 10) / 200 * 0.9  # 0.5 s: the rate held
    assert elapsed < 3


async def test_redis_bucket_serves_queued_waiters_in_batches(
    sms_redis: tuple[Redis, str],
) -> None:
    redis, prefix = sms_redis
    key = f"{prefix}rate:batch"
    bucket = RedisTokenBucket(redis, key, rate=1, burst=400, batch=64)
    await asyncio.gather(*(bucket.acquire() for _ in range(400)))
    assert bucket.round_trips < 400 / 16  # not one Redis round trip per token
    other = RedisTokenBucket(redis, key, rate=1, burst=400)  # another worker
    assert await other.try_take() > 0  # the tokens handed out locally were taken in Redis
