"""End to end with a real SMTP server: the closed loop from acknowledgement to 不满意."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx

from channels.email.sender import SmtpSender, SmtpSettings
from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.runtime import Runtime
from notifier.answers import record_answer
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.conftest import FakeClock, MailHandler, Recorder
from tests.notifier.helpers import EMAIL, events, new_ticket, staff, ticket

HANDLER_MAIL = "handler@env.example.test"
CITIZEN = SenderIdentity(IdentityKind.EMAIL, EMAIL)


def _mails(handler: MailHandler, to: str) -> list[EmailMessage]:
    found = []
    for mail in handler.received:
        if to in mail.rcpt_tos:
            parsed = email.message_from_bytes(mail.content, policy=default_policy)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def _act(
    http: httpx.AsyncClient, number: str, action: str, headers: dict[str, str], **body: object
) -> None:
    response = await http.post(
        f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_close_survey_unsatisfied_reopens_and_alerts(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    smtp_server: tuple[MailHandler, int],
    make_notifier: Callable[..., Notifier],
    clock: FakeClock,
) -> None:
    mailbox, port = smtp_server
    smtp = SmtpSender(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            from_address="12345@city.example.test",
            domain="city.example.test",
        )
    )
    notifier = make_notifier({"email": smtp, "sms": Recorder("sms")})
    _, agent = await staff(nruntime, Role.AGENT)
    _, handler = await staff(nruntime, Role.HANDLER, "environment", {"email": HANDLER_MAIL})
    number = await new_ticket(nruntime, channel="email")
    await notifier.run_due()
    (ack,) = _mails(mailbox, EMAIL)
    assert number in _text(ack) and (await ticket(nruntime, number)).query_code in _text(ack)

    await _act(http, number, "accept", agent)
    await _act(http, number, "dispatch", agent, department="environment")
    await notifier.run_due()
    (dispatched,) = _mails(mailbox, HANDLER_MAIL)
    assert "新派工单" in _text(dispatched) and number in str(dispatched["Subject"])

    await _act(http, number, "accept", handler)
    await _act(http, number, "reply", handler, text="已责令商户安装油烟净化器。")
    await _act(http, number, "close", agent)
    await notifier.run_due()
    texts = [_text(m) for m in _mails(mailbox, EMAIL)]
    assert len(texts) == 3 and "油烟净化器" in texts[1] and "已办结" in texts[2]

    clock.advance(hours=1, minutes=59)
    await notifier.run_due()
    assert len(_mails(mailbox, EMAIL)) == 3  # the callback waits for the configured delay
    clock.advance(minutes=1)
    await notifier.run_due()
    survey = _mails(mailbox, EMAIL)[3]
    body = _text(survey)
    assert "问题是否已解决" in body and "不满意" in body
    code = re.search(r"回访码 ([A-Z]{6})", body)
    assert code is not None
    links = re.findall(r"http://127\.0\.0\.1:8000/r/[\w-]+", body)
    assert len(links) == 3
    html_part = survey.get_body(preferencelist=("html",))
    assert html_part is not None and links[2] in str(html_part.get_content())

    outcome = await record_answer(
        notifier_parts(nruntime), identity=CITIZEN, text="3", channel="email"
    )
    assert outcome.status == "recorded" and outcome.rating == "unsatisfied"
    assert outcome.reopened and outcome.ticket_number == number and "重新办理" in outcome.reply
    reopened = await ticket(nruntime, number)
    assert reopened.status == "reopened" and reopened.supervision is True
    (rated,) = await events(nruntime, number, "rated")
    (reopen,) = await events(nruntime, number, "reopened")
    assert rated.data["rating"] == "unsatisfied" and rated.actor_kind == "citizen"
    assert reopen.actor_kind == "system" and reopen.data["reason"] == "unsatisfied_rating"

    await notifier.run_due()
    alert = _mails(mailbox, HANDLER_MAIL)[-1]
    assert "不满意" in _text(alert) and number in _text(alert)
    dims = _mails(mailbox, EMAIL)[-1]
    assert "办理效率" in _text(dims)

    said = await record_answer(
        notifier_parts(nruntime), identity=CITIZEN, text="3 2 3 一直没有人联系我", channel="email"
    )
    assert said.status == "recorded"
    rated_dims = (await events(nruntime, number, "rated"))[-1]
    assert rated_dims.data["dimensions"] == {
        "efficiency": "unsatisfied",
        "attitude": "basic",
        "result": "unsatisfied",
    }
    assert rated_dims.text == "一直没有人联系我" and rated_dims.public is False

    late = await record_answer(
        notifier_parts(nruntime), identity=CITIZEN, text="1", channel="email"
    )
    assert late.status == "late" and late.ticket_number == number
    stranger = SenderIdentity(IdentityKind.EMAIL, "nobody@example.test")
    unmatched = await record_answer(
        notifier_parts(nruntime), identity=stranger, text="3", channel="email"
    )
    assert unmatched.status == "unmatched" and unmatched.ticket_number is None
    assert len(await events(nruntime, number, "rated")) == 2
