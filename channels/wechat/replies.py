"""Passive replies: the XML WeChat shows the citizen, or the literal `success`.

A passive reply must arrive within WeChat's 5-second window; `success` tells WeChat that
nothing will follow passively (the answer then goes through the customer-service API).
The XML is rendered here rather than with wechatpy's `create_reply`, because wechatpy does
not escape `]]>` inside CDATA and a reply text containing it would produce broken XML, which
WeChat answers with "该公众号暂时无法提供服务".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUCCESS = b"success"


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What the reply to one request needs: who, from which account, and how to encrypt.

    `key_index` is the EncodingAESKey that decrypted the request (None: it was plaintext);
    the reply is encrypted with that same key and the request's nonce.
    """

    app_id: str
    openid: str
    original_id: str  # the account's gh_… id, the reply's FromUserName
    nonce: str
    key_index: int | None = None

    @property
    def encrypted(self) -> bool:
        return self.key_index is not None


def cdata(text: str) -> str:
    """A CDATA section that stays well-formed even if the text contains `]]>`."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


# what XML 1.0 cannot carry: control characters but tab/newline/CR, surrogates, U+FFFE/FFFF
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (one regex pass: a reply is on every push)."""
    return _NOT_XML.sub("", text)


def render_text_reply(*, openid: str, original_id: str, text: str, create_time: int) -> str:
    """The text reply XML; ToUserName is the citizen, FromUserName the account."""
    return (
        "<xml>"
        f"<ToUserName>{cdata(_clean(openid))}</ToUserName>"
        f"<FromUserName>{cdata(_clean(original_id))}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(_clean(text))}</Content>"
        "</xml>"
    )
