"""Signature checks for WeChat's server calls (URL verification and every POST).

WeChat signs `sha1(sorted([token, timestamp, nonce]))` (plus the `Encrypt` value for the
`msg_signature` of encrypted bodies). Comparisons are constant-time so that a forger learns
nothing from response timing, and a timestamp outside the allowed age is refused so that a
captured URL cannot be replayed later; within that age a URL carries one message only
(`replay.py`, which needs Redis and so runs in the connector, after these checks).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping

from intake.domain.errors import Forbidden

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def wechat_signature(*parts: str) -> str:
    """SHA-1 hex of the lexicographically sorted, concatenated parts (WeChat's scheme)."""
    joined = "".join(sorted(parts))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(
        expected.encode("ascii"), given.strip().lower().encode("ascii", "replace")
    )


class SignatureVerifier:
    """Checks the query signature of one account's calls, with a bounded clock skew."""

    def __init__(self, token: str, *, max_age: float = 300, clock: Clock = time.time) -> None:
        if not token:
            raise ValueError("a WeChat token must not be empty")
        self._token = token
        self._max_age = max_age
        self._clock = clock

    def check_timestamp(self, timestamp: str) -> None:
        """Refuse a missing, malformed, stale or far-future timestamp."""
        try:
            sent = int(timestamp)
        except (TypeError, ValueError):
            raise _refuse("malformed timestamp") from None
        if abs(self._clock() - sent) > self._max_age:
            raise _refuse("stale timestamp")

    def check(self, params: Mapping[str, str]) -> None:
        """Verify `signature` over token, timestamp and nonce; raise Forbidden otherwise."""
        signature, timestamp, nonce = _required(params, "signature", "timestamp", "nonce")
        expected = wechat_signature(self._token, timestamp, nonce)
        if not _same(expected, signature):
            raise _refuse("bad signature")
        self.check_timestamp(timestamp)

    def check_msg_signature(self, params: Mapping[str, str], encrypt: str) -> None:
        """Verify `msg_signature`, which also covers the encrypted body."""
        msg_signature, timestamp, nonce = _required(params, "msg_signature", "timestamp", "nonce")
        expected = wechat_signature(self._token, timestamp, nonce, encrypt)
        if not _same(expected, msg_signature):
            raise _refuse("bad msg_signature")
        self.check_timestamp(timestamp)

    def verify_url(self, params: Mapping[str, str]) -> str:
        """The GET handshake: return `echostr` unchanged when the signature is right."""
        self.check(params)
        (echostr,) = _required(params, "echostr")
        return echostr


def _required(params: Mapping[str, str], *names: str) -> tuple[str, ...]:
    values = tuple(params.get(name) or "" for name in names)
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise _refuse(f"missing {', '.join(missing)}")
    return values


def _refuse(reason: str) -> Forbidden:
    """Log (without secrets) and build the error; the caller raises it."""
    log.warning("wechat request refused: %s", reason)
    return Forbidden(f"wechat: {reason}")
