"""Heartbeats: each long-running worker says in Redis, every few seconds, that it is alive.

A worker whose task died while its process lived on (or whose process died) stops beating,
and readiness (`intake.api.health`) sees it within `TTL_S`, from any process of the
deployment. One sorted set per kind of worker: members are workers, scores the Redis server
time at which their last beat expires, so that reading it is one command and clocks of the
hosts do not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

INTERVAL_S = 3.0
TTL_S = 10.0  # three beats missed


async def server_time(client: aioredis.Redis) -> float:
    seconds, micros = await client.time()
    return float(seconds) + micros / 1_000_000


async def beat_once(client: aioredis.Redis, key: str, member: str, *, ttl: float = TTL_S) -> None:
    now = await server_time(client)
    async with client.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {member: now + ttl})
        pipe.zremrangebyscore(key, "-inf", now)  # the dead do not pile up
        pipe.expire(key, int(ttl) + 1)
        await pipe.execute()


async def beat(
    client: aioredis.Redis,
    key: str,
    member: str,
    *,
    stop: asyncio.Event,
    alive: Callable[[], bool],
    interval: float = INTERVAL_S,
    ttl: float = TTL_S,
) -> None:
    """Beat until `stop` is set or `alive()` turns false, then leave at once. Redis being
    down is logged once per outage; beating resumes when it is back."""
    failing = False
    try:
        while not stop.is_set() and alive():
            try:
                await beat_once(client, key, member, ttl=ttl)
                if failing:
                    log.info("heartbeat %s %s: Redis is back", key, member)
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("heartbeat %s %s: %s", key, member, type(exc).__name__)
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        with contextlib.suppress(RedisError, OSError):
            await asyncio.shield(client.zrem(key, member))


async def living(client: aioredis.Redis, key: str) -> int:
    """How many workers beat under `key` within their TTL."""
    return int(await client.zcount(key, f"({await server_time(client)}", "+inf"))


def watch(
    client: aioredis.Redis, key: str, member: str, task: asyncio.Task[None], stop: asyncio.Event
) -> asyncio.Task[None]:
    """A task beating for `task` while it runs: a worker task that died stops its beat."""
    running = beat(client, key, member, stop=stop, alive=lambda: not task.done())
    return asyncio.create_task(running, name=f"heartbeat-{member}")
