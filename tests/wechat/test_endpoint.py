"""The server-URL helpers end to end: requests built exactly as WeChat's server builds them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import xmltodict

from channels.wechat.crypto import EnvelopeCrypto
from channels.wechat.endpoint import WeChatEndpoint, WeChatEndpoints
from channels.wechat.replies import SUCCESS, ReplyContext
from channels.wechat.verify import wechat_signature
from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.messages import IdentityKind, MessageKind
from tests.wechat.wechat_helpers import (
    APP_ID,
    KEY_CURRENT,
    KEY_OTHER,
    KEY_PREVIOUS,
    NOW,
    ORIGINAL_ID,
    TOKEN,
    account,
    decrypt_reply,
    encrypted_post,
    plain_post,
    sign,
    text_xml,
)


def endpoint(**overrides: object) -> WeChatEndpoint:
    return WeChatEndpoint(account(**overrides), clock=lambda: NOW + 2)


def test_get_verification_with_the_official_vector() -> None:
    ep = WeChatEndpoint(account(token="AAAAA"), clock=lambda: 1714036504)
    params = {
        "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696",
        "timestamp": "1714036504",
        "nonce": "1514711492",
        "echostr": "hello-123",
    }
    assert ep.verify_get(params) == "hello-123"
    with pytest.raises(Forbidden):
        ep.verify_get({**params, "signature": "f" * 40})


def test_plaintext_post_with_the_official_post_vector() -> None:
    ep = WeChatEndpoint(account(mode="plaintext"), clock=lambda: 1714037059)
    params = {
        "signature": "899cf89e464efb63f54ddac96b0a0a235f53aa78",
        "timestamp": "1714037059",
        "nonce": "486452656",
    }
    message, ctx = ep.open_post(params, text_xml().encode())
    assert message.text == "路灯坏了"
    assert ctx == ReplyContext(APP_ID, "o_user1", ORIGINAL_ID, "486452656", None)
    assert message.received_at == datetime.fromtimestamp(1714037059, tz=UTC)


def test_safe_mode_current_key_roundtrip() -> None:
    ep = endpoint()
    params, body = encrypted_post(text_xml("井盖丢了"), key=KEY_CURRENT)
    assert b"\xe4\xba\x95" not in body  # the text is not in the clear
    message, ctx = ep.open_post(params, body)
    assert (message.kind, message.text, message.external_id) == (
        MessageKind.TEXT,
        "井盖丢了",
        "24086087575195331",
    )
    assert message.sender.kind is IdentityKind.WECHAT
    assert (message.sender.value, message.sender.account) == ("o_user1", APP_ID)
    assert message.raw == text_xml("井盖丢了")
    assert ctx.key_index == 0 and ctx.encrypted

    reply = ep.render_reply(ctx, "已受理，工单号 2024-000042")
    plain = xmltodict.parse(decrypt_reply(reply, key=KEY_CURRENT, nonce="1514711492"))["xml"]
    assert plain["Content"] == "已受理，工单号 2024-000042"
    assert (plain["ToUserName"], plain["FromUserName"], plain["MsgType"]) == (
        "o_user1",
        ORIGINAL_ID,
        "text",
    )
    assert plain["CreateTime"] == str(NOW + 2)


def test_previous_key_is_tried_and_reply_uses_it() -> None:
    ep = endpoint()
    params, body = encrypted_post(text_xml("旧密钥"), key=KEY_PREVIOUS)
    message, ctx = ep.open_post(params, body)
    assert message.text == "旧密钥"
    assert ctx.key_index == 1
    reply = ep.render_reply(ctx, "收到")
    assert "收到" in decrypt_reply(reply, key=KEY_PREVIOUS)
    with pytest.raises(Exception):  # noqa: B017 - any failure: the reply is not under the current key
        decrypt_reply(reply, key=KEY_CURRENT)


def test_unknown_key_is_refused() -> None:
    params, body = encrypted_post(text_xml(), key=KEY_OTHER)
    with pytest.raises(Forbidden, match="decrypt"):
        endpoint().open_post(params, body)


def test_compatible_mode_uses_the_authenticated_ciphertext() -> None:
    params, body = encrypted_post(text_xml("真"), key=KEY_CURRENT, compatible=True)
    tampered = body.replace("<![CDATA[真]]>".encode(), "<![CDATA[假]]>".encode())
    assert tampered != body
    message, ctx = endpoint(mode="compatible").open_post(params, tampered)
    assert message.text == "真"
    assert ctx.encrypted


def test_compatible_mode_accepts_plaintext_and_replies_plainly() -> None:
    params, body = plain_post(text_xml("明文"))
    ep = endpoint(mode="compatible")
    message, ctx = ep.open_post(params, body)
    assert message.text == "明文" and not ctx.encrypted
    reply = xmltodict.parse(ep.render_reply(ctx, "好"))["xml"]
    assert reply["Content"] == "好"


def test_safe_mode_refuses_plaintext() -> None:
    params, body = plain_post(text_xml())
    with pytest.raises(Forbidden, match="safe mode"):
        endpoint(mode="safe").open_post(params, body)


def test_plaintext_account_without_key_refuses_ciphertext() -> None:
    params, body = encrypted_post(text_xml())
    ep = endpoint(mode="plaintext", aes_key=None, aes_key_previous=None)
    with pytest.raises(Forbidden, match="no EncodingAESKey"):
        ep.open_post(params, body)


@pytest.mark.parametrize("field", ["signature", "msg_signature"])
def test_forged_signatures_are_refused(field: str) -> None:
    params, body = encrypted_post(text_xml())
    with pytest.raises(Forbidden):
        endpoint().open_post({**params, field: "0" * 40}, body)


def test_swapped_ciphertext_fails_msg_signature() -> None:
    params, _ = encrypted_post(text_xml("A"))
    _, other_body = encrypted_post(text_xml("B"))
    with pytest.raises(Forbidden, match="msg_signature"):
        endpoint().open_post(params, other_body)


def test_stale_request_is_refused() -> None:
    params, body = encrypted_post(text_xml(), timestamp=NOW - 3600)
    with pytest.raises(Forbidden, match="stale"):
        endpoint().open_post(params, body)


def test_missing_signature_is_refused() -> None:
    params, body = plain_post(text_xml())
    del params["signature"]
    with pytest.raises(Forbidden):
        endpoint(mode="plaintext").open_post(params, body)


def test_push_for_another_account_is_refused() -> None:
    params, body = plain_post(text_xml().replace(ORIGINAL_ID, "gh_other"))
    with pytest.raises(Forbidden, match="another account"):
        endpoint(mode="plaintext").open_post(params, body)


def test_push_without_sender_is_invalid() -> None:
    params, body = plain_post("<xml><ToUserName>gh_city</ToUserName><MsgType>text</MsgType></xml>")
    with pytest.raises(InvalidInput):
        endpoint(mode="plaintext").open_post(params, body)


def test_encrypted_envelope_without_encrypt_is_invalid() -> None:
    params, _ = encrypted_post(text_xml())
    with pytest.raises(InvalidInput):
        endpoint().open_post(params, b"<xml><ToUserName>gh_city</ToUserName></xml>")


def test_success_when_there_is_no_passive_reply() -> None:
    params, body = encrypted_post(text_xml())
    ep = endpoint()
    _, ctx = ep.open_post(params, body)
    assert ep.render_reply(ctx, None) == SUCCESS == b"success"
    assert ep.render_reply(ctx, "  ") == b"success"


def test_reply_text_cannot_break_the_xml() -> None:
    params, body = plain_post(text_xml())
    ep = endpoint(mode="plaintext")
    _, ctx = ep.open_post(params, body)
    nasty = "状态]]><MsgType>news</MsgType> & <b>\x07"
    reply = xmltodict.parse(ep.render_reply(ctx, nasty))["xml"]
    assert reply["Content"] == "状态]]><MsgType>news</MsgType> & <b>"
    assert reply["MsgType"] == "text"


def test_events_open_too() -> None:
    xml = (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName>o_user1</FromUserName>"
        f"<CreateTime>{NOW}</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>"
        "<EventKey>FILE_REQUEST</EventKey></xml>"
    )
    message, _ = endpoint().open_post(*encrypted_post(xml))
    assert message.kind is MessageKind.EVENT
    assert message.fields["event"] == "click" and message.fields["event_key"] == "FILE_REQUEST"
    assert message.external_id == f"event:o_user1:{NOW}:click"


def test_envelope_crypto_direct_roundtrip() -> None:
    crypto = EnvelopeCrypto(token=TOKEN, app_id=APP_ID, keys=[KEY_CURRENT, KEY_PREVIOUS])
    envelope = xmltodict.parse(crypto.encrypt("<xml/>", key_index=1, nonce="n", timestamp=5))["xml"]
    assert envelope["MsgSignature"] == wechat_signature(TOKEN, "5", "n", envelope["Encrypt"])
    plain, index = crypto.decrypt(
        envelope["Encrypt"], msg_signature=envelope["MsgSignature"], timestamp="5", nonce="n"
    )
    assert (plain, index) == ("<xml/>", 1)


class TestSeveralAccounts:
    district = account(app_id="wx_district_02", token="DISTRICT", original_id="gh_district")

    def endpoints(self) -> WeChatEndpoints:
        return WeChatEndpoints([account(), self.district], clock=lambda: NOW)

    def test_selected_by_signature(self) -> None:
        params = {"timestamp": str(NOW), "nonce": "9", "signature": sign("DISTRICT", str(NOW), "9")}
        assert self.endpoints().select(params).app_id == "wx_district_02"
        params["signature"] = sign(TOKEN, str(NOW), "9")
        assert self.endpoints().select(params).app_id == APP_ID

    def test_selected_by_name(self) -> None:
        assert self.endpoints().select({"account": "wx_district_02"}).app_id == "wx_district_02"
        assert self.endpoints().select({}, app_id=APP_ID).app_id == APP_ID
        with pytest.raises(Forbidden):
            self.endpoints().select({"account": "wx_nobody"})

    def test_no_match_is_refused(self) -> None:
        params = {"timestamp": str(NOW), "nonce": "9", "signature": sign("OTHER", str(NOW), "9")}
        with pytest.raises(Forbidden):
            self.endpoints().select(params)

    def test_district_signature_does_not_open_the_city_account(self) -> None:
        xml = text_xml()
        ts = str(NOW)
        params = {"timestamp": ts, "nonce": "9", "signature": sign("DISTRICT", ts, "9")}
        city = self.endpoints().get(APP_ID)
        assert city is not None
        with pytest.raises(Forbidden):
            city.open_post(params, xml.encode())
