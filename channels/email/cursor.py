"""Where the mailbox reader keeps its place, and where unreadable mail goes.

The cursor is `(UIDVALIDITY, last processed UID)` per mailbox, in a Redis hash
(`Keys.email_cursor`). It lives in Redis on purpose: the intake stream and the gateway's
dedupe receipts are there too (the embedded Redis is persistent, appendfsync always), so the
cursor can never be ahead of the messages it vouches for, as it could after restoring one store
without the other. It is only a shortcut: the gateway's (channel, Message-ID) dedupe is what
makes a re-read harmless, so a lost cursor costs a re-read, never a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from intake.domain.clock import utcnow
from intake.domain.messages import InboundMessage
from intake.redis.keys import Keys

DEAD_MARK_TTL_S = 90 * 86400

# Dead-letter a mail once: the marker and the stream entry are written together.
_BURY_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'msg', ARGV[2], '_reason', ARGV[3],
                    '_original_id', ARGV[4], '_failed_at', ARGV[5], '_attempts', ARGV[6])
end
return false
"""


@dataclass(frozen=True, slots=True)
class Cursor:
    uidvalidity: int
    last_uid: int


class CursorStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, mailbox: str) -> None:
        self._redis = redis
        self._key = keys.email_cursor(mailbox)

    @property
    def key(self) -> str:
        return self._key

    async def load(self) -> Cursor | None:
        data = await self._redis.hgetall(self._key)
        if not data or "uidvalidity" not in data:
            return None
        return Cursor(int(data["uidvalidity"]), int(data.get("last_uid", 0)))

    async def save(self, cursor: Cursor) -> None:
        await self._redis.hset(
            self._key,
            mapping={
                "uidvalidity": cursor.uidvalidity,
                "last_uid": cursor.last_uid,
                "at": utcnow().isoformat(),
            },
        )


class DeadLetters:
    """Writes unreadable mail to the dead-letter stream (`intake deadletter list/replay`)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._keys = keys
        self._bury = redis.register_script(_BURY_ONCE)

    async def bury(self, message: InboundMessage, *, reason: str, origin: str) -> str | None:
        """The dead-letter id, or None when this mail was dead-lettered before."""
        marker = self._keys.email_dead(message.external_id)
        dead_id = await self._bury(
            keys=[marker, self._keys.deadletter],
            args=[
                DEAD_MARK_TTL_S,
                orjson.dumps(message.to_dict()),
                reason[:2000],
                origin,
                utcnow().isoformat(),
                "1",
            ],
        )
        return str(dead_id) if dead_id else None
