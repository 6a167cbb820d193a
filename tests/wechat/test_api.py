"""The async API client against the fake WeChat API and a real Redis: tokens and retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from channels.wechat.api import WeChatApiClient, WeChatApiError, WeChatUnavailable
from channels.wechat.settings import WeChatAccount
from intake.redis.keys import Keys
from tests.wechat.conftest import REDIS_URL
from tests.wechat.wechat_fake_api import APP_ID, SECRET, FakeServer, FakeWeChat

pytestmark = pytest.mark.integration
SEND = "/cgi-bin/message/custom/send"
TEXT = {"touser": "o_user1", "msgtype": "text", "text": {"content": "您好"}}

ClientFactory = Callable[..., WeChatApiClient]


def wechat_account(base: str, **overrides: object) -> WeChatAccount:
    values: dict[str, object] = {
        "app_id": APP_ID,
        "app_secret": SECRET,
        "token": "T",
        "api_base": base,
    }
    values.update(overrides)
    return WeChatAccount.model_validate(values)


@pytest.fixture
async def make_client(
    fake_server: FakeServer, redis_client: aioredis.Redis, key_prefix: str
) -> AsyncIterator[ClientFactory]:
    """Independent clients (own httpx client, own Redis connection) sharing one Redis server."""
    made: list[tuple[WeChatApiClient, aioredis.Redis]] = []

    def make(**overrides: object) -> WeChatApiClient:
        own_redis = aioredis.Redis.from_url(REDIS_URL)
        client = WeChatApiClient(
            wechat_account(fake_server.base_url, **overrides),
            redis=own_redis,
            keys=Keys(key_prefix),
        )
        made.append((client, own_redis))
        return client

    yield make
    for client, own_redis in made:
        await client.aclose()
        await own_redis.aclose()


async def test_token_is_fetched_once_and_cached_in_redis(
    make_client: ClientFactory,
    fake_wechat: FakeWeChat,
    redis_client: aioredis.Redis,
    key_prefix: str,
) -> None:
    client = make_client()
    first = await client.access_token()
    assert await client.access_token() == first
    assert await make_client().access_token() == first
    assert fake_wechat.token_fetches() == 1
    key = f"{key_prefix}wechat:{APP_ID}:access_token"
    assert await redis_client.get(key) == first.encode()
    assert 0 < await redis_client.ttl(key) <= 7200 - 300


async def test_expired_token_42001_refreshes_and_retries_once(
    make_client: ClientFactory, fake_wechat: FakeWeChat
) -> None:
    client = make_client()
    await client.access_token()
    fake_wechat.expire_current_token()
    result = await client.post(SEND, TEXT)
    assert result["errcode"] == 0
    assert fake_wechat.token_fetches() == 2
    sends = [c for c in fake_wechat.calls if c["path"] == SEND]
    assert [c["access_token"] for c in sends] == ["FAKE_TOKEN_1", "FAKE_TOKEN_2"]


@pytest.mark.parametrize("code", [40001, 40014, 42001])
async def test_each_stale_token_code_refreshes(
    make_client: ClientFactory, fake_wechat: FakeWeChat, code: int
) -> None:
    fake_wechat.scripted["o_user1"] = [code]
    assert (await make_client().post(SEND, TEXT))["errcode"] == 0
    assert fake_wechat.token_fetches() == 2


async def test_retry_happens_only_once(make_client: ClientFactory, fake_wechat: FakeWeChat) -> None:
    fake_wechat.scripted["o_user1"] = [40001, 40001, 40001]
    with pytest.raises(WeChatApiError) as caught:
        await make_client().post(SEND, TEXT)
    assert caught.value.errcode == 40001
    assert len([c for c in fake_wechat.calls if c["path"] == SEND]) == 2
    assert fake_wechat.token_fetches() == 2


async def test_refresh_race_fetches_exactly_one_token(
    make_client: ClientFactory, fake_wechat: FakeWeChat
) -> None:
    """Two workers find no token at the same moment: one fetch, both get the same token."""
    fake_wechat.token_delay = 0.3
    a, b = make_client(), make_client()
    tokens = await asyncio.gather(a.access_token(), b.access_token())
    assert tokens[0] == tokens[1] == "FAKE_TOKEN_1"
    assert fake_wechat.token_fetches() == 1


async def test_refresh_race_after_expiry_fetches_exactly_one_token(
    make_client: ClientFactory, fake_wechat: FakeWeChat
) -> None:
    """Both workers hold the same expired token and get 42001 at once: one refresh only."""
    a, b = make_client(), make_client()
    assert await a.access_token() == await b.access_token()
    fake_wechat.expire_current_token()
    fake_wechat.token_delay = 0.3
    results = await asyncio.gather(a.post(SEND, TEXT), b.post(SEND, TEXT))
    assert [r["errcode"] for r in results] == [0, 0]
    assert fake_wechat.token_fetches() == 2  # the first fetch and exactly one refresh
    assert len(fake_wechat.delivered) == 2


async def test_stable_token_api(make_client: ClientFactory, fake_wechat: FakeWeChat) -> None:
    client = make_client(token_api="stable_token")
    assert await client.access_token() == "FAKE_TOKEN_1"
    call = fake_wechat.calls[0]
    assert call["path"] == "/cgi-bin/stable_token"
    assert call["body"]["force_refresh"] is False
    fake_wechat.expire_current_token()
    await client.post(SEND, TEXT)
    assert fake_wechat.calls[-2]["body"]["force_refresh"] is True


async def test_wrong_secret_is_an_api_error(
    make_client: ClientFactory, fake_wechat: FakeWeChat
) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await make_client(app_secret="wrong").access_token()
    assert caught.value.errcode == 40125


async def test_http_5xx_is_unavailable(make_client: ClientFactory, fake_wechat: FakeWeChat) -> None:
    fake_wechat.scripted["o_user1"] = ["http500"]
    with pytest.raises(WeChatUnavailable):
        await make_client().post(SEND, TEXT)


async def test_network_error_is_unavailable(redis_client: aioredis.Redis, key_prefix: str) -> None:
    client = WeChatApiClient(
        wechat_account("http://127.0.0.1:9"), redis=redis_client, keys=Keys(key_prefix)
    )
    try:
        with pytest.raises(WeChatUnavailable):
            await client.access_token()
    finally:
        await client.aclose()


async def test_secrets_and_tokens_are_not_logged(
    make_client: ClientFactory, fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    await client.access_token()
    fake_wechat.expire_current_token()
    await client.post(SEND, TEXT)
    assert "cgi-bin/token" in caplog.text  # httpx did log the requests ...
    assert SECRET not in caplog.text  # ... without the secret
    assert "FAKE_TOKEN" not in caplog.text  # ... or the tokens
