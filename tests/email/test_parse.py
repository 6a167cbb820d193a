"""Table-driven parse tests over the .eml corpus in tests/fixtures/email (see expected.yaml)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from channels.email.parse import ParsedMail, parse_mail
from intake.domain.messages import InboundMessage, MessageKind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (FIXTURES / "expected.yaml").read_text(encoding="utf-8")
)
MAILBOX = "hotline@city.example.test"
LIMIT = 64 * 1024  # the oversized fixture carries 100 kB, everything else is smaller


def parse(name: str) -> ParsedMail:
    raw = (FIXTURES / name).read_bytes()
    return parse_mail(raw, mailbox_address=MAILBOX, max_attachment_bytes=LIMIT)


def test_corpus_is_complete() -> None:
    files = {p.name for p in FIXTURES.glob("*.eml")}
    assert len(files) >= 30
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    exp = EXPECTED[name]
    raw = (FIXTURES / name).read_bytes()
    parsed = parse(name)
    msg = parsed.message
    assert msg.channel == "email"
    assert msg.raw == raw
    assert msg.kind == MessageKind(exp["kind"])
    assert msg.sender.value == exp["sender"]
    assert msg.sender.account == MAILBOX
    if "display_name" in exp:
        assert msg.sender.display_name == exp["display_name"]
    check_ids(parsed, exp, raw)
    check_text(msg, exp)
    check_thread(parsed, exp)
    check_attachments(parsed, exp)
    assert parsed.classification.kind.value == exp["classification"]
    for note in exp.get("notes_contain", []):
        assert any(note in n for n in parsed.notes), parsed.notes


def check_ids(parsed: ParsedMail, exp: dict[str, Any], raw: bytes) -> None:
    if "subject" in exp:
        assert parsed.subject == exp["subject"]
    assert "\ufffd" not in parsed.subject + (parsed.message.sender.display_name or "")
    if exp.get("external_id") == "sha256":
        assert parsed.message.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    elif "external_id" in exp:
        assert parsed.message.external_id == exp["external_id"]


def check_text(msg: InboundMessage, exp: dict[str, Any]) -> None:
    if "text" in exp:
        assert msg.text == exp["text"]
    for piece in exp.get("text_contains", []):
        assert piece in msg.text
    for piece in exp.get("text_not_contains", []):
        assert piece not in msg.text
    assert "\ufffd" not in msg.text, "a charset was decoded wrongly"


def check_thread(parsed: ParsedMail, exp: dict[str, Any]) -> None:
    assert parsed.header_ticket == exp.get("header_ticket")
    assert parsed.subject_ticket == exp.get("subject_ticket")
    if "thread_ref" in exp:
        assert parsed.message.thread_ref == exp["thread_ref"]
    if "ticket_source" in exp:
        assert parsed.message.fields["ticket_source"] == exp["ticket_source"]
    bounce = exp.get("bounce")
    if bounce is None:
        assert parsed.bounce is None
        return
    assert parsed.bounce is not None
    for key in ("ticket_number", "original_message_id", "envelope_id"):
        if key in bounce:
            assert getattr(parsed.bounce, key) == bounce[key]
    got = [(r.recipient, r.status) for r in parsed.bounce.recipients]
    assert got == [(r["recipient"], r["status"]) for r in bounce["recipients"]]


def check_attachments(parsed: ParsedMail, exp: dict[str, Any]) -> None:
    expected = exp.get("attachments", [])
    assert [p.attachment.filename for p in parsed.attachments] == [a["filename"] for a in expected]
    for part, want in zip(parsed.attachments, expected, strict=True):
        att = part.attachment
        assert att.content_type == want["content_type"]
        if "size" in want:
            assert att.size == want["size"]
        loaded = want.get("loaded", True)
        assert (part.data is not None) == loaded
        if part.data is not None:
            assert hashlib.sha256(part.data).hexdigest() == att.sha256
            assert len(part.data) == att.size
    assert parsed.message.attachments == tuple(p.attachment for p in parsed.attachments)


def test_received_at_is_passed_through_or_taken_from_date() -> None:
    raw = (FIXTURES / "01_utf8_plain.eml").read_bytes()
    when = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert parse_mail(raw, mailbox_address=MAILBOX, received_at=when).message.received_at == when
    dated = parse_mail(raw, mailbox_address=MAILBOX).message.received_at
    assert dated == datetime(2026, 11, 21, 2, 15, tzinfo=UTC)


def test_round_trips_through_the_stream_format() -> None:
    parsed = parse("19_attachments_rfc2047_and_rfc2231_gbk.eml")
    again = InboundMessage.from_dict(parsed.message.to_dict())
    assert again == parsed.message


def test_full_text_keeps_the_quote_that_text_trims() -> None:
    parsed = parse("20_reply_to_ack_in_reply_to.eml")
    assert "诉求已受理" in parsed.full_text
    assert "诉求已受理" not in parsed.message.text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"From: <>\r\n\r\n",
        b"\x00" * 50,
        "中文".encode(),
        b"Content-Type: multipart/mixed; boundary=x\r\nFrom: a@b.test\r\n\r\n"
        b"--x\r\nContent-Type: message/rfc822\r\n\r\n--x",
    ],
)
def test_never_raises_on_garbage(raw: bytes) -> None:
    parsed = parse_mail(raw, mailbox_address=MAILBOX)
    assert parsed.message.raw == raw
    assert parsed.message.external_id


def test_attachment_limit_is_configurable() -> None:
    raw = (FIXTURES / "39_oversized_attachment.eml").read_bytes()
    parsed = parse_mail(raw, mailbox_address=MAILBOX, max_attachment_bytes=10 * 1024 * 1024)
    assert all(p.data is not None for p in parsed.attachments)
    assert parsed.notes == ()
