"""Outgoing mail: headers that thread, mark automatic mail and survive a round trip."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from channels.base import OutboundMessage
from channels.email.compose import compose_mail, subject_with_ticket, threading_params
from channels.email.guards import MailClass
from channels.email.ids import ticket_from_message_id
from channels.email.parse import parse_mail
from intake.domain.messages import IdentityKind, SenderIdentity

DOMAIN = "city.example.test"
FROM = "hotline@city.example.test"
CITIZEN = SenderIdentity(IdentityKind.EMAIL, "zhangsan@example.test", display_name="张三")


def outbound(**kw: object) -> OutboundMessage:
    values: dict[str, object] = {
        "recipient": CITIZEN,
        "text": "您的诉求已受理。\n查询码：8F3K2Q",
        "job_key": "ack:2026112100042",
        "ticket_number": "2026112100042",
        "subject": "已受理：路灯坏了",
    }
    values.update(kw)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def reparse(mail: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(mail.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_acknowledgement_headers_and_parts() -> None:
    mail = compose_mail(
        outbound(),
        from_address=FROM,
        from_name="12345市民热线",
        domain=DOMAIN,
        in_reply_to="<c1.001@mail.example.test>",
        references=["<c0@x.test>"],
    )
    raw = mail.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    head.decode("ascii")  # Chinese headers are RFC 2047 encoded, never raw 8-bit
    got = reparse(mail)
    assert str(got["Subject"]) == "已受理：路灯坏了 [2026112100042]"
    assert got["From"].addresses[0].display_name == "12345市民热线"
    assert got["To"].addresses[0].addr_spec == "zhangsan@example.test"
    assert ticket_from_message_id(str(got["Message-ID"]), DOMAIN) == "2026112100042"
    assert str(got["In-Reply-To"]) == "<c1.001@mail.example.test>"
    assert str(got["References"]) == "<c0@x.test> <c1.001@mail.example.test>"
    assert str(got["Auto-Submitted"]) == "auto-replied"
    assert str(got["X-Intake-Notification"]) == "ack:2026112100042"
    assert got.get_content_type() == "multipart/alternative"
    plain = got.get_body(("plain",))
    html = got.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8"
    assert plain.get_content().strip() == "您的诉求已受理。\n查询码：8F3K2Q"
    assert "查询码：8F3K2Q" in html.get_content() and "<br>" in html.get_content()


def test_html_is_escaped_or_taken_as_given() -> None:
    mail = compose_mail(outbound(text="a<b>&c"), from_address=FROM, domain=DOMAIN)
    assert "a&lt;b&gt;&amp;c" in reparse(mail).get_body(("html",)).get_content()
    mail = compose_mail(outbound(html="<p>自定义</p>"), from_address=FROM, domain=DOMAIN)
    assert "<p>自定义</p>" in reparse(mail).get_body(("html",)).get_content()


def test_human_reply_has_no_auto_submitted_and_no_threading_without_parent() -> None:
    mail = compose_mail(outbound(), from_address=FROM, domain=DOMAIN, auto_submitted="no")
    assert mail["Auto-Submitted"] is None and mail["In-Reply-To"] is None
    assert mail["X-Intake-Notification"] is not None


def test_subject_tag_not_doubled_and_single_line() -> None:
    assert subject_with_ticket("Re: x [2026112100042]", "2026112100042").count("[") == 1
    assert subject_with_ticket("a\r\nBcc: evil@x.test", None) == "a Bcc: evil@x.test"
    assert subject_with_ticket(None, None)


def test_threading_params_defaults() -> None:
    assert threading_params(outbound()) == (None, [], "auto-generated")
    reply = outbound(params={"in_reply_to": "<p@x>", "references": "<a@x> <p@x>"})
    assert threading_params(reply) == ("p@x", ["a@x", "p@x"], "auto-replied")
    human = outbound(params={"in_reply_to": "p@x", "auto_submitted": "no"})
    assert threading_params(human)[2] == "no"


def test_a_threaded_notification_is_marked_by_its_template_not_by_its_thread() -> None:
    """The notifier threads every mail of an e-mail ticket under the citizen's latest mail:
    an acknowledgement answers it, a closure or survey a person caused is still generated."""
    thread = {"in_reply_to": "<c1@x>", "references": ["c0@x"]}
    ack = outbound(template="ack", params=thread)
    assert threading_params(ack) == ("c1@x", ["c0@x"], "auto-replied")
    for template in ("closed", "reply", "survey"):
        threaded = outbound(template=template, params=thread)
        assert threading_params(threaded) == ("c1@x", ["c0@x"], "auto-generated")


def test_invalid_recipient_raises_value_error() -> None:
    bad = outbound(recipient=SenderIdentity(IdentityKind.EMAIL, "not-an-address"))
    with pytest.raises(ValueError):
        compose_mail(bad, from_address=FROM, domain=DOMAIN)


def test_our_mail_is_recognised_when_it_loops_back_and_a_reply_threads() -> None:
    mail = compose_mail(outbound(), from_address=FROM, domain=DOMAIN)
    looped = parse_mail(mail.as_bytes(), mailbox_address=FROM)
    assert looped.classification.kind is MailClass.OWN
    reply = (
        f"From: zhangsan@example.test\r\nSubject: Re: hi\r\nMessage-ID: <r1@example.test>\r\n"
        f"In-Reply-To: {mail['Message-ID']}\r\n\r\nthanks\r\n"
    ).encode()
    parsed = parse_mail(reply, mailbox_address=FROM)
    assert parsed.classification.kind is MailClass.NORMAL
    assert parsed.header_ticket == "2026112100042" == parsed.message.thread_ref
