"""Waiting for the pipeline's outcomes of many messages at once, with one Redis read per tick.

A channel that answers in the same breath (WeChat's 5-second window, the Telegram bot) waits
for the outcome the pipeline stores after its commit. Polling per request costs one GET every
tick for every waiting message, which under a burst is thousands of round trips a second spent
on nothing; here one loop reads every awaited key with a single MGET per tick and wakes the
requests whose outcome has arrived. Retries of one message share one wait.

What must be written once an outcome is known and before its reply goes out (the passive
acknowledgement mark) is written by the loop too, for every outcome of the tick in one call,
instead of one round trip per push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import orjson
import redis.asyncio as aioredis

from intake.ingest.outcomes import Outcome, outcome_key
from intake.redis.keys import Keys

log = logging.getLogger(__name__)

CHUNK = 500


Settle = Callable[[list[Outcome]], Awaitable[None]]


class OutcomeWaiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        poll_s: float = 0.01,
        settle: Settle | None = None,
    ) -> None:
        """`settle` runs on each tick's new outcomes before their waiters wake."""
        self._redis, self._keys, self._poll, self._settle = redis, keys, poll_s, settle
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._waiters: dict[str, int] = {}  # requests sharing each key's future
        self._loop_task: asyncio.Task[None] | None = None

    async def wait(self, *, channel: str, external_id: str, within_s: float) -> Outcome | None:
        """The outcome once stored, or None after `within_s` seconds."""
        key = outcome_key(self._keys, channel, external_id)
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
        self._waiters[key] = self._waiters.get(key, 0) + 1
        self._ensure_loop()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=max(within_s, 0.0))
        except TimeoutError:
            return None
        finally:
            self._waiters[key] -= 1
            if not self._waiters[key]:
                del self._waiters[key], self._waiting[key]

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._waiting:
            try:
                await self._tick()
            except Exception:  # Redis briefly away: the waits time out on their own
                log.exception("outcome poll failed")
            await asyncio.sleep(self._poll)

    async def _tick(self) -> None:
        keys = list(self._waiting)
        arrived: list[tuple[asyncio.Future[Outcome], Outcome]] = []
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            for key, raw in zip(chunk, await self._redis.mget(chunk), strict=True):
                future = self._waiting.get(key)
                if raw is not None and future is not None and not future.done():
                    arrived.append((future, Outcome(**orjson.loads(raw))))
        if arrived and self._settle is not None:
            await self._settle([outcome for _, outcome in arrived])
        for future, outcome in arrived:
            if not future.done():
                future.set_result(outcome)

    async def aclose(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task


async def wait_for_outcome(
    redis: aioredis.Redis,
    keys: Keys,
    *,
    channel: str,
    external_id: str,
    within_s: float,
    poll_s: float = 0.02,
) -> Outcome | None:
    """One message's outcome once committed, or None when it takes too long (a waiter of its
    own: for callers that wait for one message at a time)."""
    waiter = OutcomeWaiter(redis, keys, poll_s=poll_s)
    try:
        return await waiter.wait(channel=channel, external_id=external_id, within_s=within_s)
    finally:
        await waiter.aclose()
