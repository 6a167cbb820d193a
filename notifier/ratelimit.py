"""Token buckets in Redis: per channel (the provider's limit) and per recipient (courtesy).

One Lua call takes a token from both buckets or from neither, and says how long to wait when
one is empty. Time comes from the caller (the injected clock), not from Redis, so that tests
can refill a bucket by moving the clock.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from notifier.config import Bucket

# KEYS: bucket keys; ARGV: now, then rate and burst per key. Returns 0 or the wait in ms.
_TAKE = """
local now = tonumber(ARGV[1])
local states = {}
local wait = 0
for i, key in ipairs(KEYS) do
    local rate = tonumber(ARGV[2 * i])
    local burst = tonumber(ARGV[2 * i + 1])
    local saved = redis.call('HMGET', key, 'tokens', 'at')
    local tokens = tonumber(saved[1]) or burst
    local at = tonumber(saved[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
    if tokens < 1 then
        wait = math.max(wait, (1 - tokens) / rate)
    end
    states[i] = {tokens, rate, burst}
end
if wait > 0 then
    return math.ceil(wait * 1000)
end
for i, key in ipairs(KEYS) do
    local s = states[i]
    redis.call('HSET', key, 'tokens', s[1] - 1, 'at', now)
    redis.call('EXPIRE', key, math.ceil(s[3] / s[2]) + 60)
end
return 0
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script: Any = redis.register_script(_TAKE)

    async def take(self, buckets: list[tuple[str, Bucket]], *, now: float) -> float:
        """Take one token from every bucket; returns 0, or seconds to wait (nothing taken)."""
        if not buckets:
            return 0.0
        keys = [f"{self._prefix}notify:bucket:{name}" for name, _ in buckets]
        args: list[float] = [now]
        for _, bucket in buckets:
            args += [bucket.rate, bucket.burst]
        wait_ms = await self._script(keys=keys, args=args)
        return int(wait_ms) / 1000
