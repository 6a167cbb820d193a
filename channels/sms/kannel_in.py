"""Kannel MO (get-url) parsing: raw query bytes -> `InboundMessage`, pure and total.

The get-url is fixed (the README documents it):
`…/channels/sms/kannel?secret=S&from=%p&to=%P&text=%b&charset=%C&coding=%c&id=%I&ts=%t&smsc=%i`.

Why `%b` and raw bytes: `%b` is the message exactly as the SMSC delivered it, percent-encoded
byte by byte. With `mo-recode=false` a UCS-2 message arrives as UTF-16BE bytes that are not
valid UTF-8, so decoding the query as text (what web frameworks do) destroys it; `%a` even
squeezes whitespace and splits on 0x20/0x0C bytes inside UTF-16. We
therefore split the query ourselves and decode the text with the coding/charset Kannel reports.
Every failure is `InvalidInput` or `Forbidden`; nothing else escapes.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_to_bytes

from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.phones import mask_phone as mask
from intake.domain.phones import normalize_phone as normalize
from intake.domain.text_hygiene import clean_text

from .settings import SmsSettings

log = logging.getLogger(__name__)

CHANNEL = "sms"
# Kannel's %C names and what Python calls them; "8-BIT" is raw octets (decoded below).
_CHARSETS = {
    "UTF-8": "utf-8",
    "UTF-16BE": "utf-16-be",
    "UCS-2": "utf-16-be",
    "WINDOWS-1252": "cp1252",
    "ISO-8859-1": "latin-1",
    "LATIN1": "latin-1",
}
# a gateway's timestamp further than this from our clock is a fault, not a time: `now` is used
TRUSTED_CLOCK_SKEW = timedelta(days=366)


def parse_query(raw_query: bytes) -> dict[str, bytes]:
    """Split an `a=b&c=d` query into raw byte values (first occurrence wins, '+' is a space)."""
    out: dict[str, bytes] = {}
    for part in raw_query.split(b"&"):
        if not part:
            continue
        key, _, value = part.partition(b"=")
        name = unquote_to_bytes(key.replace(b"+", b" ")).decode("utf-8", "replace")
        out.setdefault(name, unquote_to_bytes(value.replace(b"+", b" ")))
    return out


def without_secret(raw_query: bytes) -> bytes:
    """The query as stored in `raw`: everything Kannel sent except our shared secret."""
    return b"&".join(p for p in raw_query.split(b"&") if not p.startswith(b"secret="))


def text_param(params: dict[str, bytes], name: str) -> str:
    """A parameter that is plain ASCII/UTF-8 text (numbers, ids, timestamps), without the
    control characters no store takes (`%00` in an id is dropped, the same on every retry)."""
    return clean_text(params.get(name, b"").decode("utf-8", "replace")).strip()


def small_int(value: str, *, digits: int = 18) -> int | None:
    """A non-negative decimal of at most `digits` ASCII digits, else None (never raises)."""
    if 0 < len(value) <= digits and value.isascii() and value.isdigit():
        return int(value)
    return None


def check_secret(given: bytes | str | None, expected: str) -> None:
    """Constant-time comparison; an unset expected secret refuses everything (fail closed)."""
    if isinstance(given, str):
        given = given.encode("utf-8")
    if not expected or not given or not hmac.compare_digest(given, expected.encode("utf-8")):
        raise Forbidden("bad or missing SMS gateway secret")


def check_client_ip(client_ip: str, allowed: Sequence[str]) -> None:
    """Optional allow-list of gateway addresses or networks; an empty list allows any."""
    if not allowed:
        return
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError as exc:
        raise Forbidden("SMS gateway address not allowed") from exc
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return
        except ValueError:
            log.warning("ignoring malformed allowed_ips entry %r", entry)
    raise Forbidden("SMS gateway address not allowed")


def decode_text(data: bytes, coding: str, charset: str) -> str:
    """Decode `%b` with Kannel's `%c` (0 7-bit, 1 8-bit, 2 UCS-2) and `%C` (charset).

    mo-recode on: UCS-2 arrives recoded as UTF-8 with coding 0. Off: UTF-16BE with coding 2.
    8-bit payloads are not text by definition; we try UTF-8 and keep the octets as Latin-1
    otherwise. Undecodable bytes become U+FFFD rather than an error; control characters leave
    the text when the message is built (`intake.domain.text_hygiene`). The message's `raw` keeps the
    query byte for byte, so nothing is lost.
    """
    codec = _CHARSETS.get(charset.strip().upper())
    if coding == "2" and codec not in ("utf-16-be", "utf-8"):
        codec = "utf-16-be"
    if codec is None or coding == "1":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return data.decode(codec, "replace")


def parse_time(value: str, fallback: datetime) -> datetime:
    """`%t` is UTC 'YYYY-MM-DD HH:MM[:SS]' (gw_gmtime); `%T` is unix seconds. Else `fallback`:
    also for a time out of range or implausibly far from `fallback` (the message is still
    taken, since Kannel would retry a refusal forever)."""
    parsed = _parse_time(value)
    if parsed is None or abs(parsed - fallback) > TRUSTED_CLOCK_SKEW:
        return fallback
    return parsed


def _parse_time(value: str) -> datetime | None:
    seconds = small_int(value, digits=12)
    if seconds is not None:
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def parse_mo(raw_query: bytes, *, now: datetime | None = None) -> InboundMessage:
    """Parse an already authenticated get-url query. Raises `InvalidInput` only."""
    params = parse_query(raw_query)
    external_id = text_param(params, "id")
    if not external_id:
        raise InvalidInput("Kannel MO without id (%I): cannot deduplicate", field="id")
    sender = normalize(text_param(params, "from"), strict=False)
    coding, charset = text_param(params, "coding"), text_param(params, "charset")
    text = decode_text(params.get("text", b""), coding, charset)
    received = parse_time(text_param(params, "ts"), now or datetime.now(UTC))
    fields = {
        "to": text_param(params, "to"),
        "smsc": text_param(params, "smsc"),
        "coding": coding,
        "charset": charset,
    }
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id,
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=sender),
        kind=MessageKind.TEXT,
        received_at=received,
        text=text,
        raw=without_secret(raw_query),
        fields=fields,
    )


def authenticate(raw_query: bytes, client_ip: str, settings: SmsSettings) -> dict[str, bytes]:
    """IP allow-list, then the shared secret; returns the parsed params for the caller."""
    check_client_ip(client_ip, settings.allowed_ips)
    params = parse_query(raw_query)
    check_secret(params.get("secret"), settings.inbound_secret.get_secret_value())
    return params


def parse_mo_request(
    raw_query: bytes, client_ip: str, settings: SmsSettings, *, now: datetime | None = None
) -> InboundMessage:
    """The whole `GET /channels/sms/kannel` edge in one call, so the route stays thin.

    Pass the undecoded query (`request.scope["query_string"]` in Starlette/FastAPI).
    Raises `Forbidden` (answer 403) or `InvalidInput` (answer 400).
    """
    authenticate(raw_query, client_ip, settings)
    message = parse_mo(raw_query, now=now)
    log.debug(  # the route logs the outcome; this is for tracing the parser
        "sms MO id=%s from=%s chars=%d",
        message.external_id,
        mask(message.sender.value),
        len(message.text),
    )
    return message
