"""A signed push URL carries one message: replayed with another body it is refused, while
WeChat's own retries (same URL, same message) are answered as before, once."""

from __future__ import annotations

import time

import httpx
import pytest
import redis.asyncio as aioredis
import xmltodict
from sqlalchemy import func, select

from channels.wechat.replay import NonceLedger
from intake.config import Settings
from intake.domain.errors import Unavailable
from intake.domain.models import Ticket
from intake.redis.keys import Keys
from intake.runtime import Runtime
from tests.wechat.service import text_push, wechat_service
from tests.wechat.wechat_helpers import KEY_CURRENT, decrypt_reply, encrypted_post, plain_post

COMPLAINT = "人民路和解放路路口的红绿灯坏了，很危险。电话13812345678"  # complete: filed at once


async def tickets(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(xmltodict.parse(response.text)["xml"]["Content"])


async def test_a_signed_url_replayed_with_another_body_is_refused(settings: Settings) -> None:
    async with wechat_service(settings) as service:
        client, runtime = service.client, service.runtime
        params, body = plain_post(
            text_push(COMPLAINT, "31001"), timestamp=int(time.time()), nonce="4711"
        )
        first = content(await client.post("/channels/wechat", params=params, content=body))
        async with runtime.db.read() as session:
            number = await session.scalar(select(Ticket.number))
        assert number is not None and number in first

        retry = await client.post("/channels/wechat", params=params, content=body)
        assert content(retry) == first  # WeChat's retry: the same answer, no second ticket

        for forged in (
            text_push("我要投诉噪音扰民，电话13900000000", "31002", openid="o_attacker"),
            text_push("查询", "31003"),  # as the victim: would list the victim's tickets
        ):
            refused = await client.post("/channels/wechat", params=params, content=forged.encode())
            assert refused.status_code == 403
            assert number not in refused.text
        assert await tickets(runtime) == 1

        fresh, fresh_body = plain_post(
            text_push("幸福路12号烧烤店油烟扰民，电话13812345678", "31004"),
            timestamp=int(time.time()),
            nonce="4712",
        )
        honest = await client.post("/channels/wechat", params=fresh, content=fresh_body)
        assert "工单编号" in content(honest)
        assert await tickets(runtime) == 2


async def test_compatible_mode_url_cannot_be_turned_into_a_plaintext_push(
    settings: Settings,
) -> None:
    """The msg_signature covers the encrypted body, but the plain `signature` does not: a
    captured URL with `encrypt_type` dropped must not carry a plaintext body of the forger's."""
    async with wechat_service(settings) as service:
        client, runtime = service.client, service.runtime
        params, body = encrypted_post(
            text_push(COMPLAINT, "32001"), key=KEY_CURRENT, timestamp=int(time.time()), nonce="88"
        )
        ok = await client.post("/channels/wechat", params=params, content=body)
        assert ok.status_code == 200 and "工单编号" in decrypt_reply(ok.content, key=KEY_CURRENT)
        plain = {k: v for k, v in params.items() if k not in ("encrypt_type", "msg_signature")}
        forged = text_push("查询", "32002").encode()
        assert (
            await client.post("/channels/wechat", params=plain, content=forged)
        ).status_code == 403
        assert await tickets(runtime) == 1


async def test_safe_mode_retry_re_encrypted_gets_the_same_answer(settings: Settings) -> None:
    """Safe mode: a retry of the same message under the same URL is answered as the first,
    even when its envelope was encrypted afresh; the ticket is filed once."""
    async with wechat_service(settings, mode="safe") as service:
        client, runtime = service.client, service.runtime
        xml, ts = text_push(COMPLAINT, "33001"), int(time.time())
        replies = []
        for _ in range(2):  # each call encrypts with a new random prefix
            params, body = encrypted_post(xml, key=KEY_CURRENT, timestamp=ts, nonce="99")
            response = await client.post("/channels/wechat", params=params, content=body)
            assert response.status_code == 200
            plain = decrypt_reply(response.content, key=KEY_CURRENT)
            replies.append(xmltodict.parse(plain)["xml"]["Content"])
        assert replies[0] == replies[1] and "工单编号" in replies[0]
        other, other_body = encrypted_post(
            text_push("查询", "33002"), key=KEY_CURRENT, timestamp=ts, nonce="99"
        )
        assert (
            await client.post("/channels/wechat", params=other, content=other_body)
        ).status_code == 403
        assert await tickets(runtime) == 1


async def test_nonces_expire_with_the_window_and_stay_under_the_prefix(
    runtime: Runtime,
) -> None:
    prefix = runtime.redis.keys.prefix
    ledger = NonceLedger(
        runtime.redis.client, keys=runtime.redis.keys, max_age=300, clock=time.time
    )
    ts = str(int(time.time()))
    await ledger.admit(app_id="wx1", timestamp=ts, nonce="n1", content=b"<xml>a</xml>")
    await ledger.admit(app_id="wx1", timestamp=ts, nonce="n1", content=b"<xml>a</xml>")
    await ledger.admit(app_id="wx2", timestamp=ts, nonce="n1", content=b"<xml>b</xml>")
    ttl = await runtime.redis.client.ttl(f"{prefix}wechat:nonce:wx1:{ts}:n1")
    assert 295 <= ttl <= 310


async def test_redis_down_is_unavailable_not_an_error() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    ledger = NonceLedger(dead, keys=Keys("test:"), max_age=300)
    try:
        with pytest.raises(Unavailable):
            await ledger.admit(
                app_id="wx", timestamp=str(int(time.time())), nonce="1", content=b"x"
            )
    finally:
        await dead.aclose()
