"""Who may still get a customer-service message, and who left: state kept in Redis.

WeChat allows 5 customer-service messages within 48 hours of a citizen's message; sending
outside that quota fails (45015/45047), so the sender spends the quota here first and goes
to a template message when it is used up. An unsubscribed citizen gets nothing at all. Times
come from the callers (injectable clock) and are checked in Lua, atomically, so concurrent
notifier workers never overspend the quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import orjson
from redis.asyncio import Redis

from intake.redis.coalesce import Coalescer
from intake.redis.keys import Keys

WINDOW_SECONDS = 48 * 3600
QUOTA_PER_MESSAGE = 5

# KEYS: window keys; ARGV: the quota, then [at_ms, ttl_ms] per key as one JSON array
_NOTE = """
for i, note in ipairs(cjson.decode(ARGV[2])) do
  local opened = redis.call('HGET', KEYS[i], 'opened_at')
  if not (opened and tonumber(opened) > tonumber(note[1])) then
    redis.call('HSET', KEYS[i], 'opened_at', note[1], 'remaining', ARGV[1])
    redis.call('PEXPIRE', KEYS[i], note[2])
  end
end
return 0
"""

_CONSUME = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if not opened or tonumber(ARGV[1]) >= tonumber(opened) + tonumber(ARGV[2]) then return -1 end
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0')
if left <= 0 then return -2 end
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
return left - 1
"""

_REFUND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0')
if left >= tonumber(ARGV[1]) then return left end
return redis.call('HINCRBY', KEYS[1], 'remaining', 1)
"""


class ServiceWindow:
    """The 48-hour customer-service window, its quota, and the unsubscribed marks."""

    def __init__(
        self,
        redis: Redis,
        *,
        keys: Keys,
        clock: Callable[[], float] = time.time,
        window_seconds: int = WINDOW_SECONDS,
        quota: int = QUOTA_PER_MESSAGE,
    ) -> None:
        self._redis, self._keys, self._clock = redis, keys, clock
        self._window_ms, self._quota = window_seconds * 1000, quota
        self._note = redis.register_script(_NOTE)
        self._noting = Coalescer(self._note_all)
        self._consume = redis.register_script(_CONSUME)
        self._refund = redis.register_script(_REFUND)

    def _key(self, account: str, openid: str, what: str) -> str:
        return self._keys.wechat_citizen(account, openid, what)

    async def note_user_message(self, openid: str, account: str, at: datetime) -> None:
        """A citizen's message (re)opens the window with a fresh quota (never an older one)."""
        at_ms = int(at.timestamp() * 1000)
        ttl_ms = at_ms + self._window_ms - int(self._clock() * 1000)
        if ttl_ms <= 0:
            return
        await self._noting((self._key(account, openid, "window"), str(at_ms), str(ttl_ms)))

    async def _note_all(self, notes: list[tuple[str, str, str]]) -> list[None]:
        """The notes of every push that arrived in one turn of the event loop, in one call."""
        args = orjson.dumps([[at_ms, ttl_ms] for _, at_ms, ttl_ms in notes])
        await self._note(keys=[key for key, _, _ in notes], args=[self._quota, args])
        return [None] * len(notes)

    async def consume(self, openid: str, account: str) -> bool:
        """Spend one message of the quota; False when the window is closed or spent."""
        now_ms = int(self._clock() * 1000)
        left = await self._consume(
            keys=[self._key(account, openid, "window")], args=[now_ms, self._window_ms]
        )
        return int(left) >= 0

    async def refund(self, openid: str, account: str) -> None:
        """Give back a slot WeChat refused with an errcode (nothing was delivered)."""
        await self._refund(keys=[self._key(account, openid, "window")], args=[self._quota])

    async def remaining(self, openid: str, account: str) -> int:
        """Messages left in the open window (0 when closed)."""
        key = self._key(account, openid, "window")
        opened, left = await self._redis.hmget(key, ["opened_at", "remaining"])
        if opened is None or int(self._clock() * 1000) >= int(opened) + self._window_ms:
            return 0
        return max(int(left or 0), 0)

    async def close(self, openid: str, account: str) -> None:
        """WeChat says the window is closed (45015/45047): stop trying until the next message."""
        await self._redis.delete(self._key(account, openid, "window"))

    async def mark_unsubscribed(self, openid: str, account: str) -> None:
        await self._redis.set(self._key(account, openid, "unsubscribed"), b"1")
        await self.close(openid, account)

    async def mark_subscribed(self, openid: str, account: str) -> None:
        await self._redis.delete(self._key(account, openid, "unsubscribed"))

    async def is_unsubscribed(self, openid: str, account: str) -> bool:
        return bool(await self._redis.exists(self._key(account, openid, "unsubscribed")))
