"""Loop/junk guards: classification of single headers, and bounce extraction."""

from __future__ import annotations

import email
from email.message import Message
from pathlib import Path

import pytest

from channels.email.guards import MailClass, classify
from channels.email.ids import (
    is_ticket_number,
    make_message_id,
    parse_id_list,
    strip_message_id,
    ticket_from_message_id,
    ticket_from_subject,
)
from channels.email.quotes import trim_reply

DOMAIN = "city.example.test"
BOUNCES = Path(__file__).resolve().parent.parent / "fixtures" / "email" / "bounces"


def mail(*headers: tuple[str, str], body: str = "hello") -> Message:
    lines = [f"{k}: {v}" for k, v in (("From", "citizen@example.test"), *headers)]
    return email.message_from_string("\n".join(lines) + "\n\n" + body + "\n")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), MailClass.NORMAL),
        ((("Auto-Submitted", "no"),), MailClass.NORMAL),
        ((("Auto-Submitted", "auto-generated"),), MailClass.AUTO_REPLY),
        ((("Auto-Submitted", "Auto-Replied; owner-email=x@y"),), MailClass.AUTO_REPLY),
        ((("Precedence", "bulk"),), MailClass.AUTO_REPLY),
        ((("Precedence", "JUNK"),), MailClass.AUTO_REPLY),
        ((("Precedence", "list"),), MailClass.AUTO_REPLY),
        ((("Precedence", "first-class"),), MailClass.NORMAL),
        ((("X-Autoreply", "yes"),), MailClass.AUTO_REPLY),
        ((("X-Autorespond", "on"),), MailClass.AUTO_REPLY),
        ((("List-Id", "<a.lists.test>"),), MailClass.AUTO_REPLY),
        ((("X-Auto-Response-Suppress", "All"),), MailClass.NORMAL),  # a request, not a mark
        ((("Subject", "自动回复：您好"),), MailClass.AUTO_REPLY),
        ((("Subject", "Re: Automatic reply: hi"),), MailClass.AUTO_REPLY),
        ((("Subject", "Out of Office"),), MailClass.AUTO_REPLY),
        ((("Subject", "你们的自动回复没收到"),), MailClass.NORMAL),
        ((("Return-Path", "<>"),), MailClass.BOUNCE),
        ((("Return-Path", "<>"), ("Auto-Submitted", "auto-replied")), MailClass.AUTO_REPLY),
        ((("X-Intake-Notification", "ack"),), MailClass.OWN),
        ((("Message-ID", f"<ticket-2026112100042.ab@{DOMAIN}>"),), MailClass.OWN),
        ((("Message-ID", "<ticket-2026112100042.ab@elsewhere.test>"),), MailClass.NORMAL),
    ],
)
def test_classify_headers(headers: tuple[tuple[str, str], ...], expected: MailClass) -> None:
    verdict = classify(mail(*headers), domain=DOMAIN)
    assert verdict.kind is expected
    assert verdict.may_acknowledge is (expected is MailClass.NORMAL)
    assert (verdict.reason == "") is (expected is MailClass.NORMAL)


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.test", "postmaster@mx.test"])
def test_daemon_senders_are_bounces(sender: str) -> None:
    msg = email.message_from_string(f"From: {sender}\nSubject: failure\n\nx\n")
    assert classify(msg, domain=DOMAIN).kind is MailClass.BOUNCE


def test_own_address_in_from() -> None:
    msg = email.message_from_string("From: Hotline <Hotline@Other.test>\n\nx\n")
    verdict = classify(msg, domain=DOMAIN, own_addresses=frozenset({"hotline@other.test"}))
    assert verdict.kind is MailClass.OWN
    assert classify(msg, domain=DOMAIN).kind is MailClass.NORMAL


def test_dsn_from_an_mta() -> None:
    raw = (BOUNCES / "mta_dsn.eml").read_bytes()
    verdict = classify(email.message_from_bytes(raw), domain=DOMAIN)
    assert verdict.kind is MailClass.BOUNCE
    assert verdict.bounce is not None
    assert verdict.bounce.original_message_id == "ticket42.reply@city.example.test"
    assert verdict.bounce.ticket_number is None  # not one of our ticket ids
    [rcpt] = verdict.bounce.recipients
    assert (rcpt.recipient, rcpt.action, rcpt.status) == ("nobody@example.test", "failed", "5.1.1")
    assert rcpt.diagnostic == "550 5.1.1 user unknown"


def test_verp_address_gives_the_ticket() -> None:
    msg = email.message_from_string(
        "From: MAILER-DAEMON@mx.test\nTo: bounces+2026112100042@city.example.test\n\n"
        "550 5.1.1 <x@y.test>: no such user\n"
    )
    bounce = classify(msg, domain=DOMAIN).bounce
    assert bounce is not None and bounce.ticket_number == "2026112100042"


def test_message_ids_round_trip() -> None:
    mid = make_message_id("2026112100042", DOMAIN)
    assert mid.startswith("<ticket-2026112100042.") and mid.endswith(f"@{DOMAIN}>")
    assert mid != make_message_id("2026112100042", DOMAIN)
    assert ticket_from_message_id(mid, DOMAIN) == "2026112100042"
    assert ticket_from_message_id(strip_message_id(mid), DOMAIN.upper()) == "2026112100042"
    assert ticket_from_message_id(mid, "other.test") is None
    assert ticket_from_message_id(make_message_id(None, DOMAIN), DOMAIN) is None
    assert ticket_from_message_id("<ticket-2026139900042.x@city.example.test>", DOMAIN) is None


@pytest.mark.parametrize(
    ("subject", "ticket"),
    [
        ("Re: 您的工单 [2026112100042] 已受理", "2026112100042"),
        ("回复：【2026112100042】", "2026112100042"),
        ("[#2026112100042]", "2026112100042"),
        ("[13800138000] 电话", None),  # a phone number, not a ticket
        ("[2026112100] too short", None),
        ("[2026133100042] month 13", None),
        ("no tag 2026112100042", None),
    ],
)
def test_ticket_from_subject(subject: str, ticket: str | None) -> None:
    assert ticket_from_subject(subject) == ticket


def test_id_lists() -> None:
    assert parse_id_list("<a@b> <c@d>\r\n <a@b>") == ["a@b", "c@d"]
    assert parse_id_list("a@b") == ["a@b"]
    assert parse_id_list(None) == []
    assert is_ticket_number("2026112100042") and not is_ticket_number("20261121")


@pytest.mark.parametrize(
    ("text", "kept", "dropped"),
    [
        ("ok\n\nOn Mon, Nov 21, 2026 at 9:00 AM X <x@y> wrote:\n> old", "ok", "old"),
        ("好\n\n在 2026年11月21日 10:00，热线 <h@x> 写道：\n> 旧", "好", "旧"),
        ("好\n\n2026-11-21 10:00 热线 <h@x> 写道：\n旧", "好", "旧"),
        ("好\n\n-----原始邮件-----\n发件人：x\n旧", "好", "旧"),
        ("ok\n\n-----Original Message-----\nFrom: x\nold", "ok", "old"),
        ("ok\n\nFrom: x\nSent: y\nTo: z\nold", "ok", "old"),
        ("ok\n> quoted\nmy answer", "ok\nmy answer", "quoted"),
        ("ok\n\n-- \nsig", "ok", "sig"),
        ("ok\n\n发自我的iPhone", "ok", "iPhone"),
        ("ok\nSent from my Huawei phone", "ok", "Huawei"),
        ("通知上写道：\n停水三天", "停水三天", "\x00"),  # no date/address: not a header
        ("From: 小区门口往东\n走两百米", "走两百米", "\x00"),  # one "From:" is no header block
        ("> all quoted", "> all quoted", "\x00"),  # nothing left: keep the original
    ],
)
def test_trim_reply(text: str, kept: str, dropped: str) -> None:
    out = trim_reply(text)
    assert kept in out
    assert dropped not in out
