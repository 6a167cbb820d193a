"""Fixtures for the SMS channel tests: the real Kannel peer and a real Redis, isolated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.conftest import unavailable
from tests.notifier.conftest import clock, senders

from .kannel_peer import kannel_peer, kannel_peer_norecode

__all__ = ["clock", "kannel_peer", "kannel_peer_norecode", "senders"]

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def sms_redis() -> AsyncIterator[tuple[Redis, str]]:
    """The real Redis server with a key prefix unique to the test, deleted afterwards."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem, not a test result
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL} ({exc})")
    prefix = f"test:sms:{uuid.uuid4().hex}:"
    try:
        yield client, prefix
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
