"""Fixtures for the WeChat channel tests: real Redis with a per-test prefix, fake WeChat API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from uuid import uuid4

import pytest
import redis.asyncio as aioredis

from tests.wechat.wechat_fake_api import FakeServer, FakeWeChat, Holder

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid4().hex}:"


@pytest.fixture
async def redis_client(key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the real Redis; every key under the test's prefix is deleted afterwards."""
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.ping()
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{key_prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_wechat(fake_server: FakeServer) -> FakeWeChat:
    """Fresh scripted state of the fake API for each test."""
    Holder.fake = FakeWeChat()
    return Holder.fake
