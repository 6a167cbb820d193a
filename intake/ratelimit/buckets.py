"""Token buckets: `rate` tokens a second refill a bucket that holds at most `burst`.

A bucket paces sends to what a provider's contract allows (an SMS gateway, a mail relay) and
spaces a citizen's notifications. `take(n)` grants up to `n` tokens at once, or none and says
how long until the next one, so that a caller can take for everyone queued behind it in one
call. The production buckets are Redis hashes (`Keys.bucket`) shared by every process and
updated atomically by one Lua script; `LocalTokenBucket` is the same algorithm in-process.

Time is the Redis server's clock (workers' clocks may disagree) unless the caller passes its
own: the notifier does, so that its tests refill a bucket by moving the clock. Times are whole
microseconds inside the script: Redis turns a Lua number into a string with 14 significant
digits, which would round an epoch timestamp to 100 µs.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from intake.redis.keys import Keys

DRIFT = 1e-9  # a token short by float rounding is a token: it must not cost a whole wait


class Bucket(BaseModel):
    """A bucket's shape: `rate` tokens per second refill, at most `burst` stored."""

    model_config = ConfigDict(frozen=True)

    rate: float = Field(gt=0)
    burst: float = Field(gt=0)


class Grant(NamedTuple):
    granted: int  # tokens taken (from every bucket asked)
    wait: float  # seconds until the next token when none was taken, else 0


class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Return when one more send is allowed."""


class NoLimit:
    async def acquire(self) -> None:
        return None


# The script library: `take(now, specs, want)` with specs a list of {KEYS index, rate, burst}
# and `now` in µs takes up to `want` tokens from every bucket alike, as many as the emptiest
# has (whole ones), or none; it returns the number taken and, when none, the µs until every
# bucket has one. Buckets are read once per script call (a later take sees what an earlier
# one took); `save()` writes back the ones taken from, expiring a minute after they would be
# full again (a full bucket and no bucket are the same). `redis_now()` is the server's clock.
BUCKETS_LUA = """
local buckets = {}
local function redis_now()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function take(now, specs, want)
    local granted, wait, picked = want, 0, {}
    for j, s in ipairs(specs) do
        local key, rate, burst = KEYS[s[1]], s[2], s[3]
        local b = buckets[key]
        if not b then
            local saved = redis.call('HMGET', key, 'tokens', 'ts')
            b = {tokens = tonumber(saved[1]) or burst, ts = tonumber(saved[2]) or now}
            buckets[key] = b
        end
        b.rate, b.burst = rate, burst
        b.tokens = math.min(burst, b.tokens + math.max(0, now - b.ts) * rate / 1000000)
        b.ts = now
        granted = math.min(granted, math.floor(b.tokens + 1e-9))
        if b.tokens < 1 - 1e-9 then
            wait = math.max(wait, math.ceil((1 - b.tokens) * 1000000 / rate))
        end
        picked[j] = b
    end
    if granted < 1 then
        return 0, wait
    end
    for _, b in ipairs(picked) do
        b.tokens = math.max(0, b.tokens - granted)
        b.taken = true
    end
    return granted, 0
end
local function save()
    for key, b in pairs(buckets) do
        if b.taken then
            redis.call('HSET', key, 'tokens', string.format('%.17g', b.tokens),
                       'ts', string.format('%.0f', b.ts))
            redis.call('PEXPIRE', key, math.ceil(b.burst * 1000 / b.rate) + 60000)
        end
    end
end
"""

# KEYS: the buckets; ARGV: now in µs ("" for the server's clock), tokens wanted, then rate and
# burst per bucket. Returns {tokens taken, µs to wait when none}.
_TAKE = (
    BUCKETS_LUA
    + """
local now = tonumber(ARGV[1]) or redis_now()
local specs = {}
for i = 1, #KEYS do
    specs[i] = {i, tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])}
end
local granted, wait = take(now, specs, tonumber(ARGV[2]))
save()
return {granted, wait}
"""
)


def micros(now: float) -> int:
    """A caller's clock reading (epoch seconds) as the script's time."""
    return round(now * 1_000_000)


class TokenBuckets:
    """Named buckets in Redis, any of them taken from together in one atomic call."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._keys = keys
        self._script: Any = redis.register_script(_TAKE)

    def key(self, name: str) -> str:
        return self._keys.bucket(name)

    async def take(
        self, buckets: Sequence[tuple[str, Bucket]], *, want: int = 1, now: float | None = None
    ) -> Grant:
        """Up to `want` tokens from every bucket alike, or none and the wait (see `take`)."""
        if not buckets:
            return Grant(want, 0.0)
        return await _take_keys(
            self._script, [(self.key(name), bucket) for name, bucket in buckets], want, now
        )


async def _take_keys(
    script: Any, buckets: Sequence[tuple[str, Bucket]], want: int, now: float | None
) -> Grant:
    args: list[float | int | str] = ["" if now is None else micros(now), want]
    for _, bucket in buckets:
        args += [bucket.rate, bucket.burst]
    granted, wait_us = await script(keys=[key for key, _ in buckets], args=args)
    return Grant(int(granted), int(wait_us) / 1_000_000)


class _Paced(ABC):
    """`acquire()` over `take(n)`: waiters queue on a lock, and the holder takes tokens for
    everyone queued behind it (up to `batch`) in one call and hands them out. Tokens left
    over (their waiter gone) are dropped after `keep_s`, so that they cannot add to a later
    burst."""

    def __init__(self, *, burst: float, batch: int, keep_s: float) -> None:
        self._lock = asyncio.Lock()
        self._batch = max(1, min(batch, int(burst)))
        self._waiting = 0
        self._spare = 0  # tokens taken for waiters still queued on the lock
        self._spare_at = 0.0
        self.keep_s = keep_s

    @abstractmethod
    async def take(self, want: int = 1) -> Grant:
        """Take up to `want` tokens: how many, and the seconds until the next one if none."""

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


class LocalTokenBucket(_Paced):
    """The bucket in this process only (tests, and a limit no other process shares)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        batch: int = 64,
        keep_s: float = 0.1,
    ) -> None:
        super().__init__(burst=burst, batch=batch, keep_s=keep_s)
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._tokens, self._stamp = float(burst), clock()

    async def take(self, want: int = 1) -> Grant:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = now
        granted = min(want, math.floor(self._tokens + DRIFT))
        if granted < 1:
            return Grant(0, (1 - self._tokens) / self.rate)
        self._tokens = max(0.0, self._tokens - granted)
        return Grant(granted, 0.0)


class RedisTokenBucket(_Paced):
    """One bucket shared by every process through its Redis hash (a gateway's contract).

    One Redis call at a time per process: a thousand concurrent sends each holding a pooled
    connection would exhaust the pool, and one round trip per token would cap a process at
    1/RTT sends a second; hence the batched `acquire`.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate: float,
        burst: float,
        *,
        batch: int = 64,
        keep_s: float = 0.1,
    ) -> None:
        super().__init__(burst=burst, batch=batch, keep_s=keep_s)
        self.key, self.bucket = key, Bucket(rate=rate, burst=burst)
        self._script: Any = redis.register_script(_TAKE)
        self.round_trips = 0

    async def take(self, want: int = 1) -> Grant:
        self.round_trips += 1
        return await _take_keys(self._script, [(self.key, self.bucket)], want, None)
