"""Each update handled once, whichever way it arrives (webhook retries, polling restarts).

The gateway already dedupes what is submitted on (channel, update_id), but most updates never
reach it: guided-flow steps, button presses. A Redis SET NX on the update id claims it before
any handler runs; if handling fails the claim is released, so Telegram's retry of the webhook
(or the next run) can do it again.
"""

from __future__ import annotations

import redis.asyncio as aioredis


class UpdateGate:
    def __init__(self, redis: aioredis.Redis, *, prefix: str, bot_id: int, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}tg:update:{bot_id}:"
        self._ttl = ttl_s

    async def claim(self, update_id: int) -> bool:
        """True for the first caller of this update id; False for every repeat."""
        return bool(await self._redis.set(f"{self._prefix}{update_id}", "1", nx=True, ex=self._ttl))

    async def release(self, update_id: int) -> None:
        await self._redis.delete(f"{self._prefix}{update_id}")
