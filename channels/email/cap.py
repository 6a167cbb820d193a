"""A per-address cap on our automatic answers (acknowledgements, instant replies): a loop guard.

The guards in guards.py stop answers to responders that mark their mail (RFC 3834), but one
that does not would answer each of our answers, and we each of its mails. So at most
`per_hour` and `per_day` automatic mails go to one address, counted in Redis across processes
(fixed windows: the UTC hour and the intake day in Asia/Shanghai, on the injected clock).
Beyond that the sender raises `SendSkipped`: not sent, not retried, no other channel tried;
the notifier records it as skipped. Mail a person caused (a handler's reply, the closure,
the survey) is not counted. A send that fails gives its place back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from channels.base import OutboundMessage
from channels.email.compose import AUTO_REPLY_TEMPLATES
from intake.domain.clock import Clock, intake_day
from intake.domain.errors import SendSkipped
from intake.redis.keys import Keys

# INCR every window's counter; if one goes over its limit, undo them all and say which one.
_TAKE = """
local over = 0
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, tonumber(ARGV[2 * i])) end
  if n > tonumber(ARGV[2 * i - 1]) and over == 0 then over = i end
end
if over > 0 then
  for _, key in ipairs(KEYS) do redis.call('DECR', key) end
end
return over
"""


@dataclass(frozen=True, slots=True)
class Window:
    name: str  # "hour" or "day", in keys and messages
    limit: int
    ttl: int  # seconds a counter outlives its window


class AutoReplyCap:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        keys: Keys,
        clock: Clock,
        per_hour: int,
        per_day: int,
    ) -> None:
        self._redis = redis
        self._redis_keys = keys
        self._clock = clock
        self._windows = tuple(
            w
            for w in (Window("hour", per_hour, 2 * 3600), Window("day", per_day, 2 * 86400))
            if w.limit > 0
        )
        self._take = redis.register_script(_TAKE)

    @staticmethod
    def applies(message: OutboundMessage) -> bool:
        """Automatic answers to the citizen's own mail count; mail a person caused does not."""
        return message.template in AUTO_REPLY_TEMPLATES

    def _keys(self, address: str) -> list[str]:
        digest = hashlib.blake2b(address.strip().lower().encode(), digest_size=12).hexdigest()
        now = self._clock()
        slot = {"hour": now.strftime("%Y%m%d%H"), "day": intake_day(now)}
        base = self._redis_keys.email_autoreply_cap(digest)
        return [f"{base}:{w.name}:{slot[w.name]}" for w in self._windows]

    async def take(self, address: str) -> list[str]:
        """Count one mail to `address`; returns the counters to give back if it is not sent."""
        if not self._windows:
            return []
        keys = self._keys(address)
        args = [str(v) for w in self._windows for v in (w.limit, w.ttl)]
        over = int(await self._take(keys=keys, args=args))
        if over:
            window = self._windows[over - 1]
            raise SendSkipped(
                f"capped: already {window.limit} automatic mails to this address this "
                f"{window.name}",
                reason="capped",
            )
        return keys

    async def give_back(self, keys: list[str]) -> None:
        if not keys:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.decr(key)
            await pipe.execute()
