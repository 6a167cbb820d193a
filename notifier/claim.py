"""Claiming a send: the guard against sending twice and the rate limits, in one atomic step.

For each (job key, channel) of a batch, one Lua call: when the send state
(`intake.ingest.send_state`)
has an entry, that entry is the answer (sent, sending, failed) and nothing changes; otherwise
the route's token buckets (`intake.ratelimit.buckets`) are asked, and when they give, the state
becomes "sending" before the call returns. A route that may not send now (opted out, quiet
hours) only looks at the state. No other worker can slip in between the look and the mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from intake.ingest.send_state import SENDING, TTL_SECONDS, SendState
from intake.ratelimit.buckets import BUCKETS_LUA, Bucket, TokenBuckets, micros

# KEYS: the state keys of the claims, then the distinct bucket keys. ARGV: now (µs), "sending",
# the state TTL, and the claims as one JSON array (a Python-side argument costs more than the
# whole Lua call): per claim its channel, the number of its buckets (-1: only look) and
# (KEYS index, rate, burst) per bucket. Returns per claim {0, state} (the state already
# there), {1} (nothing there; looked only), {2, wait ms} or {3} (claimed: now "sending").
_CLAIM = (
    BUCKETS_LUA
    + """
local now, out = tonumber(ARGV[1]), {}
for i, claim in ipairs(cjson.decode(ARGV[4])) do
    local field, count = claim[1], claim[2]
    local specs = {}
    for j = 1, math.max(count, 0) do
        specs[j] = {claim[3 * j], claim[3 * j + 1], claim[3 * j + 2]}
    end
    local state = redis.call('HGET', KEYS[i], field)
    if state then
        out[i] = {0, state}
    elseif count < 0 then
        out[i] = {1}
    else
        local granted, wait = take(now, specs, 1)
        if granted < 1 then
            out[i] = {2, math.ceil(wait / 1000)}
        else
            redis.call('HSET', KEYS[i], field, ARGV[2])
            redis.call('EXPIRE', KEYS[i], ARGV[3])
            out[i] = {3}
        end
    end
end
save()
return out
"""
)


@dataclass(frozen=True, slots=True)
class Claim:
    state: str | None = None  # what the send state already said: nothing was changed
    wait: float = 0.0  # seconds until the buckets give a token: nothing was taken
    claimed: bool = False  # tokens taken and the state is now "sending": send


# a route's buckets by name (`TokenBuckets.key`)
Request = list[tuple[str, Bucket]]
# (job key, channel, the route's buckets, or None to only look at the state)
ClaimRequest = tuple[str, str, Request | None]


class Claims:
    def __init__(self, redis: aioredis.Redis, *, state: SendState, limiter: TokenBuckets) -> None:
        self._state = state
        self._limiter = limiter
        self._script: Any = redis.register_script(_CLAIM)

    async def claim_many(self, requests: list[ClaimRequest], *, now: float) -> list[Claim]:
        """Each request in order, in one call: later ones see the tokens earlier ones took."""
        buckets: dict[str, int] = {}  # key → its index in KEYS, after the state keys
        claims: list[list[Any]] = []
        for _, channel, request in requests:
            claim: list[Any] = [channel, -1 if request is None else len(request)]
            for name, bucket in request or []:
                key = self._limiter.key(name)
                index = buckets.setdefault(key, len(requests) + len(buckets) + 1)
                claim += [index, bucket.rate, bucket.burst]
            claims.append(claim)
        keys = [self._state.key(job_key) for job_key, _, _ in requests] + list(buckets)
        args = [micros(now), SENDING, TTL_SECONDS, orjson.dumps(claims)]
        return [_claim(reply) for reply in await self._script(keys=keys, args=args)]


def _claim(reply: list[Any]) -> Claim:
    code = int(reply[0])
    if code == 0:
        value = reply[1]
        return Claim(state=value.decode() if isinstance(value, bytes) else str(value))
    if code == 2:
        return Claim(wait=int(reply[1]) / 1000)
    return Claim(claimed=code == 3)
