"""MO parsing from raw get-url queries shaped exactly as Kannel 1.4.5 sends them (%b etc.)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote_from_bytes

import pytest

from channels.sms.kannel_in import decode_text, parse_mo, parse_mo_request
from channels.sms.settings import SmsSettings
from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.messages import IdentityKind, MessageKind

SECRET = "s3cret-ABC_123"
SETTINGS = SmsSettings(inbound_secret=SECRET)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CN = "你好，路灯坏了 退订"


def query(
    text: bytes,
    *,
    coding: str,
    charset: str,
    sender: str = "%2B8613800138001",
    secret: str = SECRET,
    msg_id: str = "033edfa2-1111-2222-3333-444455556666",
    ts: str = "2026-11-21+22:43:21",
) -> bytes:
    """A get-url query as smsbox builds it: %b percent-encoded byte by byte, space as '+'."""
    body = quote_from_bytes(text, safe="").replace("%20", "+")
    return (
        f"secret={secret}&from={sender}&to=12345&text={body}&charset={charset}"
        f"&coding={coding}&id={msg_id}&ts={ts}&smsc=FAKE"
    ).encode("ascii")


CASES = [
    # (name, text bytes, coding, charset, expected text)
    ("ucs2 recode on", CN.encode("utf-8"), "0", "UTF-8", CN),
    ("ucs2 recode off", CN.encode("utf-16-be"), "2", "UTF-16BE", CN),
    ("ucs2 with 0x20/0x0C bytes", "，丌 ".encode("utf-16-be"), "2", "UTF-16BE", "，丌 "),
    ("emoji recode off", "好😀".encode("utf-16-be"), "2", "UTF-16BE", "好😀"),
    ("gsm text", b"Streetlight broken on Main St", "0", "UTF-8", "Streetlight broken on Main St"),
    ("spaces and newlines", b"a  b\n\nc \r\n", "0", "UTF-8", "a  b\n\nc \r\n"),
    ("plus and percent", b"1+1=2 100%", "0", "UTF-8", "1+1=2 100%"),
    ("8-bit utf-8", "退".encode() + b"\nA  B", "1", "8-BIT", "退\nA  B"),
    # a C1 control is no text: dropped from it (`raw` keeps every byte)
    ("8-bit binary", b"caf\xe9 {}\x80", "1", "8-BIT", "caf\xe9 {}"),
    ("windows-1252", "café €".encode("cp1252"), "0", "WINDOWS-1252", "café €"),
    ("no charset, ucs2", CN.encode("utf-16-be"), "2", "", CN),
    ("empty", b"", "0", "UTF-8", ""),
]


@pytest.mark.parametrize(("name", "raw", "coding", "charset", "expected"), CASES)
def test_parse_mo_text(name: str, raw: bytes, coding: str, charset: str, expected: str) -> None:
    msg = parse_mo(query(raw, coding=coding, charset=charset), now=NOW)
    assert msg.text == expected, name


def test_parse_mo_fields() -> None:
    raw = query(CN.encode("utf-16-be"), coding="2", charset="UTF-16BE")
    msg = parse_mo(raw, now=NOW)
    assert msg.channel == "sms"
    assert msg.external_id == "033edfa2-1111-2222-3333-444455556666"
    assert msg.idempotency_key == "sms:033edfa2-1111-2222-3333-444455556666"
    assert msg.sender.kind is IdentityKind.PHONE and msg.sender.value == "+8613800138001"
    assert msg.sender.account == ""  # so the phone links to the same citizen elsewhere
    assert msg.kind is MessageKind.TEXT
    assert msg.received_at == datetime(2026, 11, 21, 22, 43, 21, tzinfo=UTC)
    assert msg.fields == {"to": "12345", "smsc": "FAKE", "coding": "2", "charset": "UTF-16BE"}
    assert isinstance(msg.raw, bytes) and b"from=%2B8613800138001" in msg.raw
    assert SECRET.encode() not in msg.raw  # the secret is never stored


@pytest.mark.parametrize(
    ("sender", "e164"),
    [
        ("%2B8613800138001", "+8613800138001"),
        ("+8613800138001", "+8613800138001"),  # an unencoded '+' arrives as a space
        ("008613800138001", "+8613800138001"),
        ("13800138001", "+8613800138001"),
        ("%2B447911123456", "+447911123456"),
    ],
)
def test_sender_normalised(sender: str, e164: str) -> None:
    msg = parse_mo(query(b"hi", coding="0", charset="UTF-8", sender=sender), now=NOW)
    assert msg.sender.value == e164


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-11-21+22:43", datetime(2026, 11, 21, 22, 43, tzinfo=UTC)),
        ("1795300963", datetime.fromtimestamp(1795300963, UTC)),
        ("garbage", NOW),
        ("", NOW),
    ],
)
def test_received_at(ts: str, expected: datetime) -> None:
    assert (
        parse_mo(query(b"x", coding="0", charset="UTF-8", ts=ts), now=NOW).received_at == expected
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"secret=x&from=%2B8613800138001&text=hi",  # no id
        query(b"x", coding="0", charset="UTF-8", sender=""),
        query(b"x", coding="0", charset="UTF-8", sender="abc"),
        b"&&&==&id=1&from=%ZZ",
    ],
)
def test_parse_mo_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_mo(raw, now=NOW)


def test_parse_mo_is_total_on_junk_bytes() -> None:
    raw = b"id=1&from=13800138000&text=%FF%FE%00&coding=2&charset=UTF-16BE&ts=%FF"
    msg = parse_mo(raw, now=NOW)  # odd byte count, noncharacter, bad ts: still a message
    assert msg.text == "\ufffe\ufffd"
    assert msg.received_at == NOW


def test_request_checks_secret() -> None:
    good = query(b"hi", coding="0", charset="UTF-8")
    assert parse_mo_request(good, "127.0.0.1", SETTINGS, now=NOW).text == "hi"
    for bad in ("wrong", "", SECRET + "x", SECRET[:-1]):
        with pytest.raises(Forbidden):
            parse_mo_request(
                query(b"hi", coding="0", charset="UTF-8", secret=bad), "1.2.3.4", SETTINGS, now=NOW
            )
    with pytest.raises(Forbidden):
        parse_mo_request(b"from=13800138000&id=1&text=hi", "127.0.0.1", SETTINGS, now=NOW)


def test_unset_secret_refuses_everything() -> None:
    raw = query(b"hi", coding="0", charset="UTF-8", secret="")
    with pytest.raises(Forbidden):
        parse_mo_request(raw, "127.0.0.1", SmsSettings(), now=NOW)


@pytest.mark.parametrize(
    ("allowed", "ip", "ok"),
    [
        ([], "203.0.113.9", True),
        (["127.0.0.1"], "127.0.0.1", True),
        (["10.0.0.0/8", "127.0.0.1"], "10.20.30.40", True),
        (["10.0.0.0/8"], "192.168.1.1", False),
        (["10.0.0.0/8"], "not-an-ip", False),
        (["::1"], "::1", True),
    ],
)
def test_ip_allow_list(allowed: list[str], ip: str, ok: bool) -> None:
    settings = SmsSettings(inbound_secret=SECRET, allowed_ips=allowed)
    raw = query(b"hi", coding="0", charset="UTF-8")
    if ok:
        assert parse_mo_request(raw, ip, settings, now=NOW).text == "hi"
    else:
        with pytest.raises(Forbidden):
            parse_mo_request(raw, ip, settings, now=NOW)


def test_secret_must_be_url_safe() -> None:
    with pytest.raises(ValueError):
        SmsSettings(inbound_secret="has%percent")


def test_decode_text_ucs2_without_charset_falls_back_by_coding() -> None:
    assert decode_text("路".encode("utf-16-be"), "2", "GSM") == "路"
