"""Per-gateway send rate limiting (token bucket).

Why: an SMSC link or a cloud account has a contracted throughput; exceeding it gets messages
throttled or dropped by the operator. The limit is per gateway, shared by every worker process,
so the production bucket lives in Redis and is updated atomically by a Lua script that uses the
Redis server's clock (workers' clocks may disagree). `LocalTokenBucket` is the same algorithm
in-process, for tests and the single-process `intake run`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Return when one more send is allowed."""


class NoLimit:
    async def acquire(self) -> None:
        return None


class LocalTokenBucket:
    """In-process bucket: `rate` tokens per second, at most `burst` saved up."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._tokens, self._stamp = float(burst), clock()
        self._lock = asyncio.Lock()

    def try_take(self) -> float:
        """Take a token if there is one (returns 0) or return the seconds to wait."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1 - 1e-9:  # float drift must not cost a whole wait
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        return (1 - self._tokens) / self.rate

    async def acquire(self) -> None:
        async with self._lock:  # FIFO-ish: one waiter at a time owns the next token
            while True:
                wait = self.try_take()
                if wait <= 0:
                    return
                await asyncio.sleep(wait)


# KEYS[1] bucket; ARGV rate/s, burst, tokens wanted. Returns {tokens granted, µs until the
# next one when none was}.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000000)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {granted, wait}
"""


class RedisTokenBucket:
    """Token bucket shared by all processes through one Redis hash per gateway.

    One Redis call at a time per process: waiters queue on a lock instead of each holding a
    pooled connection (a thousand concurrent sends would exhaust the pool). One round trip
    per token would then cap a process at 1/RTT sends a second, so
    the lock holder takes tokens for everyone queued behind it (up to `batch`) in one call
    and hands them out locally; tokens left over (their waiter gone) are dropped after
    `keep_s`, so that they cannot add to a later burst.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate: float,
        burst: int,
        *,
        batch: int = 64,
        keep_s: float = 0.1,
    ) -> None:
        self.key, self.rate, self.burst = key, rate, burst
        self._script = redis.register_script(_LUA)
        self._lock = asyncio.Lock()
        self._batch = max(1, min(batch, burst))
        self._waiting = 0
        self._spare = 0  # taken from Redis for waiters still queued on the lock
        self._spare_at = 0.0
        self.keep_s = keep_s
        self.round_trips = 0

    async def take(self, want: int = 1) -> tuple[int, float]:
        """Take up to `want` tokens: (how many, seconds until the next one if none)."""
        self.round_trips += 1
        granted, wait_us = await self._script(keys=[self.key], args=[self.rate, self.burst, want])
        return int(granted), int(wait_us) / 1_000_000

    async def try_take(self) -> float:
        """Take a token if there is one (returns 0) or return the seconds to wait."""
        granted, wait = await self.take(1)
        return 0.0 if granted else wait

    async def acquire(self) -> None:
        self._waiting += 1
        try:
            async with self._lock:
                while not self._use_spare():
                    granted, wait = await self.take(min(self._waiting, self._batch))
                    self._spare, self._spare_at = granted, time.monotonic()
                    if not granted:
                        await asyncio.sleep(wait)
        finally:
            self._waiting -= 1

    def _use_spare(self) -> bool:
        if self._spare and time.monotonic() - self._spare_at <= self.keep_s:
            self._spare -= 1
            return True
        self._spare = 0
        return False
