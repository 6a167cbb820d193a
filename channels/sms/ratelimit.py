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


# KEYS[1] bucket; ARGV rate/s, burst. Returns 0 when a token was taken, else µs to wait.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


class RedisTokenBucket:
    """Token bucket shared by all processes through one Redis hash per gateway."""

    def __init__(self, redis: Redis, key: str, rate: float, burst: int) -> None:
        self.key, self.rate, self.burst = key, rate, burst
        self._script = redis.register_script(_LUA)
        # One Redis call at a time per process: waiters queue here instead of each holding a
        # pooled connection (a thousand concurrent sends would exhaust the pool).
        self._lock = asyncio.Lock()

    async def try_take(self) -> float:
        wait_us = await self._script(keys=[self.key], args=[self.rate, self.burst])
        return int(wait_us) / 1_000_000

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                wait = await self.try_take()
                if wait <= 0:
                    return
                await asyncio.sleep(wait)
