"""Each update handled once, whichever way it arrives (webhook retries, polling restarts).

The gateway already dedupes what is submitted on (channel, update_id), but most updates never
reach it: guided-flow steps, button presses. A Redis SET NX on the update id claims it before
any handler runs. The claim is made in two steps: "handling", which expires after
`HANDLING_TTL_S`, then "done" for the dedupe window once the handlers have finished. If
handling fails the claim is released, so Telegram's retry of the webhook (or the next run) can
do it again; if Redis went away in the middle and the release could not be made, the
"handling" claim runs out by itself and the retry is handled, not skipped as a repeat.
"""

from __future__ import annotations

from enum import StrEnum

import redis.asyncio as aioredis

from intake.redis.keys import Keys

HANDLING_TTL_S = 30  # longer than any handler takes; a stale claim frees its update after it


class Claim(StrEnum):
    NEW = "new"  # this caller handles the update
    BUSY = "busy"  # another caller is handling it now (or died doing so): try again later
    DONE = "done"  # handled before: a repeat


class UpdateGate:
    def __init__(self, redis: aioredis.Redis, *, keys: Keys, bot_id: int, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._bot_id = bot_id
        self._ttl = ttl_s

    def _key(self, update_id: int) -> str:
        return self._keys.telegram_update(self._bot_id, update_id)

    async def claim(self, update_id: int) -> Claim:
        key = self._key(update_id)
        if await self._redis.set(key, "handling", nx=True, ex=HANDLING_TTL_S):
            return Claim.NEW
        state = await self._redis.get(key)
        if state is None:  # it ran out between the two calls: claim it again
            return await self.claim(update_id)
        return Claim.BUSY if state == "handling" else Claim.DONE

    async def finish(self, update_id: int) -> None:
        """The update was handled: repeats within the dedupe window are skipped."""
        await self._redis.set(self._key(update_id), "done", ex=self._ttl)

    async def release(self, update_id: int) -> None:
        await self._redis.delete(self._key(update_id))
