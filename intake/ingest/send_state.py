"""Per job key and channel, where the send stands: the guard against sending twice.

Written to Redis around each send: "sending" just before the provider call, "sent:<id>" as
soon as it returns, "failed" after a permanent error. The database record comes after. When
a worker dies in between and the job runs again:
- "sent:<id>" → the send happened: only the record is written, nothing is sent again;
- "sending"   → the provider call itself was cut off and we cannot know whether it went out.
  We choose at-most-once for citizens (a duplicate SMS or survey costs trust and money; a
  missing one is caught): the delivery is recorded as `unconfirmed`, not repeated, and the
  ticket event says so for an agent to check.
Redis is configured with append-only persistence (fsync always for the embedded server).
With several jobs in flight, a crash leaves each of their sends in one of these states, so each
is recorded once as what it is. The notifier reads the state and sets "sending" in one step
with the rate limits (`notifier.claim`); `set_many` marks the outcomes of many sends at once.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from intake.domain.enums import Intent
from intake.ingest.outcomes import Outcome
from intake.redis.keys import Keys

SENDING = "sending"
FAILED = "failed"
SENT_PREFIX = "sent:"
TTL_SECONDS = 30 * 86400

# KEYS: state keys; ARGV: the TTL, and (channel, value) per key as one JSON array.
_SET_MANY = """
for i, item in ipairs(cjson.decode(ARGV[2])) do
    redis.call('HSET', KEYS[i], item[1], item[2])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
end
"""


class SendState:
    def __init__(self, redis: aioredis.Redis, *, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._set_many: Any = redis.register_script(_SET_MANY)

    def key(self, job_key: str) -> str:
        return self._keys.send_state(job_key)

    async def get(self, job_key: str, channel: str) -> str | None:
        value = await self._redis.hget(self.key(job_key), channel)
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, job_key: str, channel: str, value: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(job_key), channel, value)
            pipe.expire(self.key(job_key), TTL_SECONDS)
            await pipe.execute()

    async def set_many(self, items: list[tuple[str, str, str]]) -> list[None]:
        """Set (job key, channel, value) for each item, in one atomic call."""
        values = orjson.dumps([[channel, value] for _, channel, value in items])
        keys = [self.key(job_key) for job_key, _, _ in items]
        await self._set_many(keys=keys, args=[TTL_SECONDS, values])
        return [None] * len(items)

    async def clear(self, job_key: str, channel: str) -> None:
        await self._redis.hdel(self.key(job_key), channel)


PASSIVE_REPLY = SENT_PREFIX + "passive-reply"


def carried_by_reply(outcome: Outcome) -> list[str]:
    """The notifier's jobs whose message a channel's own reply to this outcome carries
    (`intake.ingest.replies.Replies.for_outcome`): a new request's number, and the answer when
    triage answered and closed it at once (its `closed` or, for a 不予受理, `declined` job)."""
    if outcome.intent != Intent.NEW_REQUEST.value or not outcome.ticket:
        return []
    keys = [f"ack:{outcome.ticket}"]
    if outcome.answered_event and outcome.reply:
        keys.append(f"{outcome.answered_job or 'closed'}:{outcome.answered_event}")
    return keys


async def mark_passive_ack(state: SendState, *, number: str, channel: str) -> None:
    """A channel's own reply carried the acknowledgement: the notifier's ack job is a no-op."""
    await state.set(f"ack:{number}", channel, PASSIVE_REPLY)


async def mark_carried(state: SendState, *, outcomes: list[Outcome], channel: str) -> list[str]:
    """Before the replies to these outcomes go out: what they carry is not sent again.
    Returns the job keys marked, one call for all of them."""
    keys = [key for outcome in outcomes for key in carried_by_reply(outcome)]
    if keys:
        await state.set_many([(key, channel, PASSIVE_REPLY) for key in keys])
    return keys
