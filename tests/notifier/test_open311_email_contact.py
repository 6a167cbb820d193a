"""A request filed through Open311 with only an e-mail address is answered and surveyed by
e-mail like any other ticket: acknowledgement, reply, closure and callback survey, through a
real SMTP server; the survey's answer by mail is recorded on the ticket."""

from __future__ import annotations

import email
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy

import httpx

from channels.email.sender import SmtpSender, SmtpSettings
from intake.domain.clock import utcnow
from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.integration.apikeys import add_key
from intake.runtime import Runtime
from notifier.answers import record_answer
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.core.helpers import drain
from tests.notifier.conftest import FakeClock, MailHandler, Recorder
from tests.notifier.helpers import events, staff

SUBMITTER = "wang.fang@example.test"


def texts(handler: MailHandler) -> list[str]:
    found = []
    for mail in handler.received:
        assert mail.rcpt_tos == [SUBMITTER]
        parsed = email.message_from_bytes(mail.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        assert body is not None
        found.append(str(body.get_content()))
    return found


async def posted(runtime: Runtime, http: httpx.AsyncClient, **contact: str) -> str:
    async with runtime.db.write() as session, session.begin():
        _, key = await add_key(session, name="city-app", at=utcnow())
    response = await http.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "service_code": "cooking-fumes",
            "address_string": "幸福路12号",
            "description": "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。",
            **contact,
        },
    )
    assert response.status_code == 201, response.text
    await drain(runtime)
    return str(response.json()[0]["service_request_id"])


async def test_an_email_only_submitter_is_answered_and_surveyed_by_mail(
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
    sms = Recorder("sms")
    notifier = make_notifier({"email": smtp, "sms": sms})
    number = await posted(nruntime, http, email=SUBMITTER, first_name="芳", last_name="王")
    await notifier.run_due()
    (ack,) = texts(mailbox)
    assert number in ack

    _, agent = await staff(nruntime, Role.AGENT)
    for action, body in (("accept", {}), ("close", {"text": "已责令商户安装油烟净化器。"})):
        answer = await http.post(
            f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=agent
        )
        assert answer.status_code == 200, answer.text
    await notifier.run_due()
    assert any("油烟净化器" in text for text in texts(mailbox)[1:])
    clock.advance(hours=2)
    await notifier.run_due()
    survey = texts(mailbox)[-1]
    assert "问题是否已解决" in survey and sms.sent == []
    assert await events(nruntime, number, "note") == []  # no call-back task for an agent

    said = await record_answer(
        notifier_parts(nruntime),
        identity=SenderIdentity(IdentityKind.EMAIL, SUBMITTER),
        text="1",
        channel="email",
    )
    assert said.status == "recorded" and said.ticket_number == number


async def test_a_phone_given_too_is_answered_by_sms_first(
    nruntime: Runtime, http: httpx.AsyncClient, make_notifier: Callable[..., Notifier]
) -> None:
    sms, mail = Recorder("sms"), Recorder("email")
    notifier = make_notifier({"email": mail, "sms": sms})
    number = await posted(nruntime, http, email=SUBMITTER, phone="13812345678")
    await notifier.run_due()
    (ack,) = sms.sent
    assert number in ack.text and mail.sent == []
