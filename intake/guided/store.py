"""The guided requests' state in Redis: one durable draft per citizen of a channel.

A draft that is filed when its time runs out has no expiry of its own (an expiring key would
take the citizen's words with it); its deadline sits in a sorted set that a background sweep
reads to file overdue drafts, and the next message files an overdue draft as well. A draft
that is dropped when abandoned simply expires. Each handled message leaves a step record (the
answer it got) written in the same MULTI as the draft, so that a channel's retries of one
message read the same answer and change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.exceptions import LockError

from intake.guided.draft import Draft, Step
from intake.redis.keys import Keys

STEP_TTL_S = 86_400

# one command instead of MULTI/GET/EXISTS/EXEC: a script reads both at one instant too
_PEEK = """
return {redis.call('GET', KEYS[1]), redis.call('EXISTS', KEYS[2])}
"""
_SEP = "\t"


class DraftStore:
    def __init__(self, redis: Redis, keys: Keys, *, channel: str, lock_ttl: float = 10.0) -> None:
        self._redis, self._keys, self._channel = redis, keys, channel
        self._deadlines = keys.guided_deadlines(channel)
        self._lock_ttl = lock_ttl
        self._peek = redis.register_script(_PEEK)

    def _draft_key(self, account: str, user: str) -> str:
        return self._keys.guided_draft(self._channel, account, user)

    def _step_key(self, account: str, message_id: str) -> str:
        return self._keys.guided_step(self._channel, account, message_id)

    def guard_keys(self, account: str, user: str, message_id: str) -> list[str]:
        """What `peek` reads, as keys whose existence means the conversation is involved."""
        return [self._step_key(account, message_id), self._draft_key(account, user)]

    async def peek(self, account: str, user: str, message_id: str) -> tuple[Step | None, bool]:
        """This message's recorded step, and whether a draft exists, read at one instant."""
        step, exists = await self._peek(
            keys=[self._step_key(account, message_id), self._draft_key(account, user)]
        )
        return (Step.from_json(step) if step else None), bool(exists)

    async def step(self, account: str, message_id: str) -> Step | None:
        raw = await self._redis.get(self._step_key(account, message_id))
        return Step.from_json(raw) if raw else None

    async def load(self, account: str, user: str) -> Draft | None:
        raw = await self._redis.get(self._draft_key(account, user))
        return Draft.from_json(raw) if raw else None

    async def commit(
        self,
        *,
        account: str,
        user: str,
        draft: Draft | None,
        message_id: str | None = None,
        step: Step | None = None,
        keep_s: float | None = None,
    ) -> None:
        """Save (or, with None, delete) the draft and record the message's answer, atomically.
        With `keep_s` the draft expires after that long instead of waiting for the sweep."""
        key, member = self._draft_key(account, user), _member(account, user)
        async with self._redis.pipeline(transaction=True) as pipe:
            if draft is None:
                pipe.delete(key)
                pipe.zrem(self._deadlines, member)
            elif keep_s is not None:
                pipe.set(key, draft.to_json(), ex=max(1, round(keep_s)))
            else:
                pipe.set(key, draft.to_json())
                pipe.zadd(self._deadlines, {member: draft.deadline})
            if message_id is not None and step is not None:
                pipe.set(self._step_key(account, message_id), step.to_json(), ex=STEP_TTL_S)
            await pipe.execute()

    async def due(self, now: float, *, limit: int = 100) -> list[tuple[str, str]]:
        """(account, user) of drafts whose deadline has passed."""
        members = await self._redis.zrangebyscore(self._deadlines, "-inf", now, 0, limit)
        return [_split(m) for m in members]

    async def forget_deadline(self, account: str, user: str) -> None:
        await self._redis.zrem(self._deadlines, _member(account, user))

    @asynccontextmanager
    async def locked(self, account: str, user: str, *, wait: float) -> AsyncIterator[bool]:
        """One step at a time per citizen, across processes; yields False when not obtained."""
        lock = self._redis.lock(
            self._keys.guided_lock(self._channel, account, user),
            timeout=self._lock_ttl,
            sleep=0.01,
            blocking_timeout=wait,
            thread_local=False,
        )
        acquired = await lock.acquire()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                with suppress(LockError):
                    await lock.release()


def _member(account: str, user: str) -> str:
    return f"{account}{_SEP}{user}"


def _split(member: bytes | str) -> tuple[str, str]:
    text = member.decode() if isinstance(member, bytes) else member
    account, _, user = text.partition(_SEP)
    return account, user
