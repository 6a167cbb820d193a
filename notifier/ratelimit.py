"""Token buckets in Redis: per channel (the provider's limit) and per recipient (courtesy).

A request takes a token from each of its buckets or from none, and says how long to wait when
one is empty. The Lua below (`BUCKETS_LUA`) is shared with `notifier.claim`, which takes the
tokens of a whole batch of sends in the same call that marks them. Time comes from the caller
(the injected clock), not from Redis, so that tests can refill a bucket by moving the clock.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from notifier.config import Bucket

# `take(now, specs)`: specs is a list of {KEYS index, rate, burst}; returns 0 (a token taken
# from each) or the seconds to wait (nothing taken). Buckets are read once per call and the
# ones taken from are written back by `save()`, with an expiry once they would be full again.
BUCKETS_LUA = """
local buckets = {}
local function take(now, specs)
    local wait, picked = 0, {}
    for j, s in ipairs(specs) do
        local key, rate, burst = KEYS[s[1]], s[2], s[3]
        local b = buckets[key]
        if not b then
            local saved = redis.call('HMGET', key, 'tokens', 'at')
            b = {tokens = tonumber(saved[1]) or burst, at = tonumber(saved[2]) or now}
            buckets[key] = b
        end
        b.rate, b.burst = rate, burst
        b.tokens = math.min(burst, b.tokens + math.max(0, now - b.at) * rate)
        b.at = now
        if b.tokens < 1 then
            wait = math.max(wait, (1 - b.tokens) / rate)
        end
        picked[j] = b
    end
    if wait > 0 then
        return wait
    end
    for _, b in ipairs(picked) do
        b.tokens = b.tokens - 1
        b.taken = true
    end
    return 0
end
local function save()
    for key, b in pairs(buckets) do
        if b.taken then
            redis.call('HSET', key, 'tokens', b.tokens, 'at', b.at)
            redis.call('EXPIRE', key, math.ceil(b.burst / b.rate) + 60)
        end
    end
end
"""

# KEYS: bucket keys; ARGV: now, then (rate, burst) per key. Returns 0 or the wait in ms.
_TAKE = (
    BUCKETS_LUA
    + """
local specs = {}
for i = 1, #KEYS do
    specs[i] = {i, tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])}
end
local wait = take(tonumber(ARGV[1]), specs)
save()
return math.ceil(wait * 1000)
"""
)

Request = list[tuple[str, Bucket]]


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, *, prefix: str) -> None:
        self._prefix = prefix
        self._script: Any = redis.register_script(_TAKE)

    def key(self, name: str) -> str:
        return f"{self._prefix}notify:bucket:{name}"

    async def take(self, buckets: Request, *, now: float) -> float:
        """Take one token from every bucket; returns 0, or seconds to wait (nothing taken)."""
        if not buckets:
            return 0.0
        args: list[float] = [now]
        for _, bucket in buckets:
            args += [bucket.rate, bucket.burst]
        wait_ms = await self._script(keys=[self.key(name) for name, _ in buckets], args=args)
        return int(wait_ms) / 1000
