"""The helpers WeChat and WeCom share (`channels.provider_api`), and their Redis key strings."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis

from channels.provider_api import RedactSecrets, TokenCache
from channels.wechat.api import WECHAT, WeChatApiError, WeChatUnavailable
from channels.wecom.api import WeComApiError, WeComUnavailable, checked, errcode
from intake.redis.keys import Keys


def test_key_strings_are_the_ones_stored_before() -> None:
    """Keys outlive a deploy (tokens, windows, queued media): their strings must not move."""
    keys, p = Keys("px:"), "px:"
    assert keys.access_token("wechat", "wx1") == f"{p}wechat:wx1:access_token"
    assert keys.access_token("wecom", "corp:1000002") == f"{p}wecom:corp:1000002:access_token"
    assert keys.wechat_nonce("wx1", "17", "n") == f"{p}wechat:nonce:wx1:17:n"
    assert keys.wechat_citizen("wx1", "o1", "window") == f"{p}wechat:wx1:o1:window"
    assert keys.wechat_pictures("wx1", "o1") == f"{p}wechat:pics:wx1:o1"
    assert keys.wechat_pictures_linked("wx1", "o1") == f"{p}wechat:pics:wx1:o1:linked"
    assert keys.wechat_media_queue == f"{p}wechat:media:queue"
    assert keys.wechat_media_job("wx1", "m1") == f"{p}wechat:media:job:wx1:m1"


def test_errors_keep_their_messages_and_errcode_rules() -> None:
    assert str(WeChatApiError(40001, "x" * 300)) == f"wechat errcode 40001: {'x' * 300}"
    assert str(WeComApiError(40014, "y" * 300)) == f"wecom errcode 40014: {'y' * 200}"
    assert WeChatApiError.errcode_of({"errcode": "?"}) == 0  # not taken for an error
    assert errcode({"errcode": "?"}) == -2
    with pytest.raises(WeComApiError) as caught:
        checked({"errcode": 60111, "errmsg": "userid not found"})
    assert caught.value.errcode == 60111 and caught.value.errmsg == "userid not found"


def test_redaction_hides_only_the_named_parameters() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, "", 0, "GET %s", ("/t?corpsecret=s1&key=k1&agent=7",), None
    )
    RedactSecrets(["access_token", "corpsecret", "key"]).filter(record)
    assert record.getMessage() == "GET /t?corpsecret=***&key=***&agent=7"


async def test_a_held_lock_is_the_providers_unavailable(key_prefix: str) -> None:
    redis = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    key = f"{key_prefix}token"

    async def fetch(force: bool) -> tuple[str, int]:
        raise AssertionError("no fetch without the lock")

    cache = TokenCache(WECHAT, redis=redis, key=key, fetch=fetch, label="wx", lock_wait=0.05)
    try:
        await redis.set(f"{key}:lock", b"someone", ex=5)
        with pytest.raises(WeChatUnavailable):
            await cache.get()
        assert not issubclass(WeChatUnavailable, WeComUnavailable)
    finally:
        await redis.delete(key, f"{key}:lock")
        await redis.aclose()
