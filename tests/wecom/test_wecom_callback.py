"""The WeCom callback with wechatpy's WeCom crypto playing WeCom: URL verification, and a
handler's tap on 受理 / 查看 on the card the notifier sent, done under their own name."""

from __future__ import annotations

import time
from typing import Any

import httpx
from wechatpy.enterprise.crypto import WeChatCrypto

from channels.wecom.callback import parse_xml, signature
from intake.directory.contacts import ContactChange, set_contact
from intake.domain.enums import Role, TicketStatus
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.helpers import events, new_ticket, staff, ticket
from tests.wecom.conftest import AES_KEY, TOKEN, Service
from tests.wecom.fake_wecom import AGENT_ID, CORP_ID

HANDLER = "ZhangSan"
CRYPTO = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)


def _tap(user: str, key: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[t1]]></TaskId>"
        "<CardType><![CDATA[button_interaction]]></CardType>"
        f"<ResponseCode><![CDATA[rc1]]></ResponseCode><AgentID>{AGENT_ID}</AgentID></xml>"
    )


async def _post(http: httpx.AsyncClient, xml: str, *, nonce: str = "n0nce") -> httpx.Response:
    """What WeCom posts: the event encrypted and signed (wechatpy's WeCom crypto)."""
    timestamp = str(int(time.time()))
    sealed = parse_xml(CRYPTO.encrypt_message(xml, nonce, timestamp), max_bytes=65536)
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID>{AGENT_ID}</AgentID>"
    body += f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    params = {"msg_signature": sealed["MsgSignature"], "timestamp": timestamp, "nonce": nonce}
    return await http.post("/channels/wecom", params=params, content=body.encode())


def _reply_label(response: httpx.Response) -> str:
    sealed = parse_xml(response.content, max_bytes=65536)
    plain = CRYPTO.decrypt_message(
        response.text, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"]
    )
    reply = plain.decode() if isinstance(plain, bytes) else plain
    assert "<MsgType><![CDATA[update_button]]></MsgType>" in reply
    return reply.split("<ReplaceName><![CDATA[")[1].split("]]>")[0]


async def _handler(service: Service, userid: str = HANDLER, **change: Any) -> int:
    handler_id, _ = await staff(service.runtime, Role.HANDLER, "environment")
    async with service.runtime.db.write() as session, session.begin():
        await set_contact(
            session,
            name=f"#{handler_id}",
            change=ContactChange(wecom_userid=userid, phone="13812345678", **change),
        )
    return handler_id


async def _dispatched(service: Service) -> str:
    _, agent = await staff(service.runtime, Role.AGENT)
    number = await new_ticket(service.runtime)
    response = await service.http.post(
        f"/api/v1/tickets/{number}/actions/dispatch",
        json={"department": "environment"},
        headers=agent,
    )
    assert response.status_code == 200, response.text
    return number


async def _notify(service: Service, senders: dict[str, Any] | None = None) -> None:
    senders = senders or {"wecom": service.connector.sender()}
    notifier = Notifier(notifier_parts(service.runtime), senders=senders)
    try:
        await notifier.run_due()
    finally:
        await notifier.close()


async def test_url_verification_answers_the_decrypted_echostr(service: Service) -> None:
    sealed = parse_xml(
        CRYPTO.encrypt_message("echo-4711", "abc", str(int(time.time()))), max_bytes=9999
    )
    params = {
        "msg_signature": sealed["MsgSignature"],
        "timestamp": sealed["TimeStamp"],
        "nonce": "abc",
        "echostr": sealed["Encrypt"],
    }
    ok = await service.http.get("/channels/wecom", params=params)
    assert ok.status_code == 200 and ok.text == "echo-4711"
    bad = await service.http.get("/channels/wecom", params={**params, "msg_signature": "0" * 40})
    assert bad.status_code == 403
    old = str(int(time.time()) - 3600)
    stale = {**params, "timestamp": old}
    stale["msg_signature"] = signature(TOKEN, old, "abc", sealed["Encrypt"])
    assert (await service.http.get("/channels/wecom", params=stale)).status_code == 403


async def test_a_handler_gets_one_card_and_accepts_it_by_tapping(service: Service) -> None:
    service.fake.users.add(HANDLER.lower())
    handler_id = await _handler(service)
    number = await _dispatched(service)
    await _notify(service)
    (card,) = [m for m in service.fake.to(HANDLER) if m["msgtype"] == "template_card"]
    accept, _open = card["template_card"]["button_list"]
    assert number in card["template_card"]["horizontal_content_list"][0]["value"]

    refused = await _post(service.http, _tap("stranger", accept["key"]))
    assert _reply_label(refused) == "无权限"
    assert await events(service.runtime, number, "accepted") == []

    tapped = await _post(service.http, _tap(HANDLER.lower(), accept["key"]))
    assert tapped.status_code == 200 and _reply_label(tapped) == "已受理"
    (event,) = await events(service.runtime, number, "accepted")
    assert event.actor_id == handler_id and event.actor_name == "handler-environment"
    assert (await ticket(service.runtime, number)).status == TicketStatus.IN_PROGRESS.value
    again = await _post(service.http, _tap(HANDLER, accept["key"]))
    assert _reply_label(again) == "无法受理"  # the state machine decides, as in the staff API


async def test_open_sends_the_detail_to_that_handler(service: Service) -> None:
    service.fake.users.add(HANDLER)
    await _handler(service)
    number = await _dispatched(service)
    response = await _post(service.http, _tap(HANDLER, f"open:{number}"))
    assert response.status_code == 200 and response.text == ""
    texts = [m["text"]["content"] for m in service.fake.to(HANDLER) if m["msgtype"] == "text"]
    assert texts and texts[-1].startswith(f"工单 {number}")


async def test_forged_or_foreign_callbacks_change_nothing(service: Service) -> None:
    await _handler(service)
    number = await _dispatched(service)
    forged = WeChatCrypto(TOKEN, AES_KEY, "another-corp")
    timestamp = str(int(time.time()))
    sealed = parse_xml(
        forged.encrypt_message(_tap(HANDLER, f"accept:{number}"), "n", timestamp), max_bytes=9999
    )
    body = f"<xml><Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    params = {"msg_signature": sealed["MsgSignature"], "timestamp": timestamp, "nonce": "n"}
    foreign = await service.http.post("/channels/wecom", params=params, content=body)
    assert foreign.status_code == 403
    unsigned = await service.http.post(
        "/channels/wecom", params={**params, "msg_signature": "x"}, content=body
    )
    assert unsigned.status_code == 403
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml>&e;</xml>'
    )
    assert (
        await service.http.post("/channels/wecom", params=params, content=xxe)
    ).status_code == 403
    assert await events(service.runtime, number, "accepted") == []
