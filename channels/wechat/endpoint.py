"""The server-URL logic of one official account, so that the HTTP route stays thin.

The route calls `verify_get` for the GET handshake, `open_post` for a push (which checks the
signature and timestamp, enforces the configured mode, decrypts, parses safely and
normalizes) and `render_reply` for the answer. All three raise `Forbidden` (answer 403) or
`InvalidInput` (answer 400) and do no I/O, so they are cheap inside WeChat's 5-second window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.messages import InboundMessage

from .crypto import EnvelopeCrypto
from .parse import to_inbound
from .replies import SUCCESS, ReplyContext, render_text_reply
from .settings import WeChatAccount
from .verify import Clock, SignatureVerifier
from .xml import parse_xml

log = logging.getLogger(__name__)


class WeChatEndpoint:
    """Verification, decryption, parsing and reply rendering for one account."""

    def __init__(self, account: WeChatAccount, *, clock: Clock = time.time) -> None:
        self.account = account
        self._clock = clock
        token = account.token.get_secret_value()
        self._verifier = SignatureVerifier(token, max_age=account.max_timestamp_age, clock=clock)
        keys = account.aes_keys()
        self._crypto = (
            EnvelopeCrypto(token=token, app_id=account.app_id, keys=keys) if keys else None
        )

    @property
    def app_id(self) -> str:
        return self.account.app_id

    def signature_matches(self, params: Mapping[str, str]) -> bool:
        """True when this account's token signed the request (used to pick an account)."""
        try:
            self._verifier.check(params)
        except Forbidden:
            return False
        return True

    def verify_get(self, params: Mapping[str, str]) -> str:
        """The URL-verification handshake: the `echostr` to answer, verbatim."""
        return self._verifier.verify_url(params)

    def open_post(
        self, params: Mapping[str, str], body: bytes, *, received_at: datetime | None = None
    ) -> tuple[InboundMessage, ReplyContext]:
        """Check, decrypt and normalize one push; the context is needed for the reply."""
        self._verifier.check(params)
        encrypted = (params.get("encrypt_type") or "raw").lower() == "aes"
        if self.account.mode == "safe" and not encrypted:
            raise _refuse("plaintext push refused: the account is in safe mode")
        outer = parse_xml(body, max_bytes=self.account.max_body_bytes)
        data, xml_text, key_index = outer, body.decode("utf-8", "replace"), None
        if encrypted:
            xml_text, key_index = self._decrypt(params, outer)
            data = parse_xml(xml_text, max_bytes=self.account.max_body_bytes)
        self._check_addressee(data)
        now = received_at or datetime.fromtimestamp(self._clock(), tz=UTC)
        message = to_inbound(data, account=self.app_id, received_at=now, raw=xml_text)
        context = ReplyContext(
            app_id=self.app_id,
            openid=message.sender.value,
            original_id=_text(data, "ToUserName") or self.account.original_id,
            nonce=params.get("nonce") or "",
            key_index=key_index,
        )
        return message, context

    def render_reply(self, context: ReplyContext, text: str | None) -> bytes:
        """XML text reply (encrypted if the request was), or `success` for no passive reply."""
        if text is None or not text.strip():
            return SUCCESS
        now = int(self._clock())
        xml = render_text_reply(
            openid=context.openid, original_id=context.original_id, text=text, create_time=now
        )
        if context.key_index is None or self._crypto is None:
            return xml.encode("utf-8")
        envelope = self._crypto.encrypt(
            xml, key_index=context.key_index, nonce=context.nonce, timestamp=now
        )
        return envelope.encode("utf-8")

    def _decrypt(self, params: Mapping[str, str], outer: Mapping[str, Any]) -> tuple[str, int]:
        if self._crypto is None:
            raise _refuse("encrypted push but no EncodingAESKey is configured")
        encrypt = _text(outer, "Encrypt")
        if not encrypt:
            raise InvalidInput("wechat: encrypted push without <Encrypt>")
        self._verifier.check_msg_signature(params, encrypt)
        return self._crypto.decrypt(
            encrypt,
            msg_signature=params["msg_signature"],
            timestamp=params["timestamp"],
            nonce=params["nonce"],
        )

    def _check_addressee(self, data: Mapping[str, Any]) -> None:
        """A push for another account (wrong ToUserName) is refused when we know our id."""
        expected = self.account.original_id
        if expected and _text(data, "ToUserName") != expected:
            raise _refuse("push addressed to another account")
        if not _text(data, "FromUserName") or not _text(data, "MsgType"):
            raise InvalidInput("wechat: push without FromUserName or MsgType")


class WeChatEndpoints:
    """All configured accounts behind one URL (or `?account=<app_id>` per account)."""

    def __init__(self, accounts: Iterable[WeChatAccount], *, clock: Clock = time.time) -> None:
        self._by_app_id = {a.app_id: WeChatEndpoint(a, clock=clock) for a in accounts}

    def get(self, app_id: str) -> WeChatEndpoint | None:
        return self._by_app_id.get(app_id)

    def select(self, params: Mapping[str, str], *, app_id: str | None = None) -> WeChatEndpoint:
        """The account a request belongs to: named in the path/query, or whose token signed it."""
        wanted = app_id or params.get("account")
        if wanted:
            endpoint = self._by_app_id.get(wanted)
            if endpoint is None:
                raise _refuse("unknown account")
            return endpoint
        if len(self._by_app_id) == 1:
            return next(iter(self._by_app_id.values()))
        matching = [e for e in self._by_app_id.values() if e.signature_matches(params)]
        if len(matching) != 1:
            raise _refuse("no single account matches the signature")
        return matching[0]


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _refuse(reason: str) -> Forbidden:
    log.warning("wechat request refused: %s", reason)
    return Forbidden(f"wechat: {reason}")
