"""A fixed-window limit per client in Redis, against guessing numbers and codes."""

from __future__ import annotations

import time

from fastapi import HTTPException

from intake.runtime import Runtime


async def limit_per_minute(runtime: Runtime, *, bucket: str, who: str, limit: int) -> None:
    window = int(time.time() // 60)
    key = f"{runtime.redis.keys.prefix}rate:{bucket}:{who}:{window}"
    async with runtime.redis.client.pipeline(transaction=False) as pipe:
        pipe.incr(key).expire(key, 120)
        count, _ = await pipe.execute()
    if int(count) > limit:
        raise HTTPException(
            status_code=429,
            detail="too many lookups; try again in a minute",
            headers={"Retry-After": "60"},
        )
