"""The WeChat server URL end to end inside the service: signed (and encrypted) pushes as
WeChat's server sends them, the pipeline running, passive replies inside the window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import xmltodict
from sqlalchemy import func, select

from intake.config import Settings
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Ticket
from intake.runtime import Runtime
from service.wiring import notifier_parts
from tests.wechat.service import post as _post
from tests.wechat.service import push_xml as _xml
from tests.wechat.service import text_push as _text
from tests.wechat.service import wechat_service
from tests.wechat.wechat_helpers import (
    APP_ID,
    KEY_PREVIOUS,
    TOKEN,
    decrypt_reply,
    encrypted_post,
    plain_post,
    sign,
)


@pytest.fixture
async def wechat(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with wechat_service(settings) as service:
        yield service.client, service.runtime


async def test_url_verification(wechat: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = wechat
    ts, nonce = str(int(time.time())), "1514711492"
    ok = await client.get(
        "/channels/wechat",
        params={
            "signature": sign(TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": "e42",
        },
    )
    assert ok.status_code == 200 and ok.text == "e42"
    forged = await client.get(
        "/channels/wechat",
        params={"signature": "0" * 40, "timestamp": ts, "nonce": nonce, "echostr": "e42"},
    )
    assert forged.status_code == 403


async def test_text_gets_its_ticket_number_in_the_reply(
    wechat: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = wechat
    text = "人民路和解放路路口的红绿灯坏了，很危险。电话13812345678"  # nothing to ask
    reply = await _post(client, _text(text, "6001"))
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket is not None and ticket.channel == "wechat"
    assert ticket.number in reply and ticket.query_code in reply
    follow = await _post(
        client,
        _xml(
            "text",
            f"<Content><![CDATA[补充：{ticket.number} 早上八点开始坏的]]></Content>",
            msg_id="6002",
        ),
    )
    assert f"已将您补充的内容添加到工单 {ticket.number}" in follow
    status = await _post(client, _text("查询", "6003"))
    assert ticket.number in status and "待受理" in status


async def test_retry_storm_gets_one_ticket_and_identical_replies(
    wechat: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = wechat
    xml = _text("小区垃圾三天没人清运了", "7001")
    replies = await asyncio.gather(*(_post(client, xml) for _ in range(3)))
    assert len(set(replies)) == 1 and "工单编号" in replies[0]
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_encrypted_push_gets_an_encrypted_reply(
    wechat: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = wechat
    nonce = "99887766"
    params, body = encrypted_post(
        _text("我的社保卡丢了，怎么补办？", "8001"),
        key=KEY_PREVIOUS,
        timestamp=int(time.time()),
        nonce=nonce,
    )
    response = await client.post("/channels/wechat", params=params, content=body)
    assert response.status_code == 200
    plain = decrypt_reply(response.content, key=KEY_PREVIOUS, nonce=nonce)
    content = xmltodict.parse(plain)["xml"]["Content"]
    assert "社保卡" in content and "工单编号" in content  # answered from the knowledge base


async def test_events_and_menu(wechat: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = wechat
    welcome = await _post(
        client, _xml("event", "<Event><![CDATA[subscribe]]></Event>", openid="o_new")
    )
    assert "欢迎关注" in welcome
    menu = await _post(
        client,
        _xml(
            "event",
            "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MY_REQUESTS]]></EventKey>",
            openid="o_new",
        ),
    )
    assert "没有正在办理的诉求" in menu
    gone = await _post(
        client,
        _xml(
            "event",
            "<Event><![CDATA[unsubscribe]]></Event>",
            openid="o_new",
            ts=int(time.time()) + 1,
        ),
    )
    assert gone == ""
    connector = client._transport.app.state.connectors["wechat"]  # type: ignore[attr-defined]
    assert await connector.sender().is_unsubscribed("o_new", APP_ID)
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_forged_push_is_refused(wechat: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = wechat
    params, body = plain_post(_text("hi", "9001"), timestamp=int(time.time()))
    params["signature"] = "f" * 40
    assert (await client.post("/channels/wechat", params=params, content=body)).status_code == 403


async def test_pushes_skip_fastapi_and_answer_as_it_would(
    wechat: tuple[httpx.AsyncClient, Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushes go through the fast lane (`intake.api.fast_lanes`): the FastAPI route is not
    called, and the reply, its content type and the refusals are what the route gives."""
    from channels.wechat.connector import WeChatConnector

    client, _ = wechat
    params, body = plain_post(
        _text("小区路灯坏了好几天了，晚上很黑", "9100"), timestamp=int(time.time())
    )
    app = client._transport.app  # type: ignore[attr-defined]
    lanes, app.state.fast_routes = app.state.fast_routes, {}
    by_route = await client.post("/channels/wechat", params=params, content=body)
    app.state.fast_routes = lanes

    async def not_here(*_: object, **__: object) -> None:
        raise AssertionError("a push went through FastAPI's route")

    monkeypatch.setattr(WeChatConnector, "push", not_here)
    by_lane = await client.post("/channels/wechat", params=params, content=body)  # WeChat's retry
    assert by_lane.status_code == by_route.status_code == 200
    assert by_lane.headers["content-type"] == by_route.headers["content-type"]
    assert by_lane.text == by_route.text and "<Content>" in by_lane.text
    params["signature"] = "f" * 40
    forged = await client.post("/channels/wechat", params=params, content=body)
    assert forged.status_code == 403 and "detail" in forged.json()
    too_big = await client.post("/channels/wechat", params=params, content=b"x" * 70_000)
    assert too_big.status_code == 422


async def test_an_answer_the_passive_reply_carried_is_not_sent_again(settings: Settings) -> None:
    """Answered at once from the knowledge base: the passive reply carried the number and
    the answer, so the notifier sends neither again and records both as delivered by it.
    The same question with no passive reply (the outcome came too late) gets both from the
    notifier, once the channel had its time to answer."""
    from datetime import timedelta

    from notifier.models import Delivery
    from notifier.service import Notifier
    from tests.notifier.conftest import Recorder

    question = "我的社保卡丢了，怎么补办？"
    async with wechat_service(settings) as service:
        runtime = service.runtime
        reply = await _post(service.client, _text(question, "8101", openid="o_kb"))
        assert "社保卡" in reply and "工单编号" in reply
        await runtime.gateway.submit(  # as if the passive reply had never gone out
            InboundMessage(
                channel="wechat",
                external_id="8102",
                sender=SenderIdentity(kind=IdentityKind.WECHAT, value="o_late", account=APP_ID),
                kind=MessageKind.TEXT,
                received_at=service.clock(),
                text=question,
            )
        )
        wechat = Recorder("wechat")
        notifier = Notifier(notifier_parts(runtime), senders={"wechat": wechat})
        try:
            for _ in range(100):  # the second request's ticket, written by the pipeline
                async with runtime.db.read() as session:
                    tickets = list(await session.scalars(select(Ticket).order_by(Ticket.id)))
                if len(tickets) == 2:
                    break
                await asyncio.sleep(0.02)
            assert [t.status for t in tickets] == ["closed", "closed"]
            await notifier.run_due()
            assert wechat.sent == []  # the channel's own reply still has its time
            service.clock.offset += timedelta(seconds=11)
            await notifier.run_due()
        finally:
            await notifier.close()
        passive, late = tickets
        assert sorted((m.ticket_number, m.template) for m in wechat.sent) == [
            (late.number, "ack"),
            (late.number, "closed"),
        ]
        closing = next(m.text for m in wechat.sent if m.template == "closed")
        assert "社保卡" in closing
        async with runtime.db.read() as session:
            rows = list(await session.scalars(select(Delivery).order_by(Delivery.job_key)))
    by_ticket = {(r.ticket_id, r.template): r for r in rows}
    for template in ("ack", "closed"):
        carried = by_ticket[(passive.id, template)]
        assert (carried.status, carried.provider_id) == ("sent", "passive-reply")
        assert carried.attempts == 0
        assert by_ticket[(late.id, template)].status == "sent"
