"""Build requests exactly as WeChat's server does (signatures with wechatpy's own signer)."""

from __future__ import annotations

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from channels.wechat.settings import WeChatAccount

TOKEN = "AAAAA"
APP_ID = "wx_city_0001"
ORIGINAL_ID = "gh_city"
KEY_CURRENT = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KEY_PREVIOUS = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
KEY_OTHER = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
NOW = 1795290000


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def account(**overrides: object) -> WeChatAccount:
    values: dict[str, object] = {
        "app_id": APP_ID,
        "app_secret": "city-secret",
        "token": TOKEN,
        "aes_key": KEY_CURRENT,
        "aes_key_previous": KEY_PREVIOUS,
        "original_id": ORIGINAL_ID,
        "mode": "safe",
    }
    values.update(overrides)
    return WeChatAccount.model_validate(values)


def plain_post(
    xml: str, *, timestamp: int = NOW, nonce: str = "1514711492"
) -> tuple[dict[str, str], bytes]:
    ts = str(timestamp)
    params = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "o"}
    return params, xml.encode("utf-8")


def encrypted_post(
    xml: str,
    *,
    key: str = KEY_CURRENT,
    compatible: bool = False,
    timestamp: int = NOW,
    nonce: str = "1514711492",
) -> tuple[dict[str, str], bytes]:
    """What WeChat posts in safe or compatible mode: Encrypt in the body, msg_signature in URL."""
    ts = str(timestamp)
    envelope = xmltodict.parse(WeChatCrypto(TOKEN, key, APP_ID).encrypt_message(xml, nonce, ts))
    encrypt = envelope["xml"]["Encrypt"]
    params = {
        "signature": sign(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": "o_user1",
        "encrypt_type": "aes",
        "msg_signature": envelope["xml"]["MsgSignature"],
    }
    inner = (
        xml.strip()[len("<xml>") : -len("</xml>")]
        if compatible
        else f"<ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
    )
    body = f"<xml>{inner}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return params, body.encode("utf-8")


def decrypt_reply(body: bytes, *, key: str, nonce: str | None = None) -> str:
    """Decrypt a reply envelope the way WeChat's server would (fails on a wrong key)."""
    envelope = xmltodict.parse(body.decode("utf-8"))["xml"]
    if nonce is not None:
        assert envelope["Nonce"] == nonce
    crypto = WeChatCrypto(TOKEN, key, APP_ID)
    return crypto.decrypt_message(
        body.decode("utf-8"), envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )


def text_xml(content: str = "路灯坏了", msg_id: str = "24086087575195331") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[o_user1]]></FromUserName>"
        f"<CreateTime>{NOW}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
