"""Our mail threads under the citizen's: the acknowledgement answers the mail that opened the
ticket, and every later notification the citizen's latest mail on it (RFC 5322 §3.6.4).

The mail goes through the real parser, pipeline and notifier; a recording sender catches the
notifier's messages and the SMTP sender composes them, so no server is needed (the Dovecot
round trip is test_email_e2e.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from channels.base import OutboundMessage
from channels.email.parse import parse_mail
from channels.email.sender import SmtpSender, SmtpSettings
from intake.config import Settings
from intake.domain.models import Ticket
from intake.runtime import Runtime
from notifier import models as _notifier_models  # noqa: F401  (tables' metadata)
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.core.helpers import accept_and_close
from tests.notifier.conftest import NOTIFY, FakeClock, Recorder

MAILBOX = "12345@city.example.test"
DOMAIN = "city.example.test"
CITIZEN = "zhangsan@example.test"
FIRST_ID = "c1.001@mail.example.test"
EARLIER_ID = "c0.000@mail.example.test"  # the citizen's mail theirs answered, if any
SMTP = SmtpSender(SmtpSettings(host="127.0.0.1", port=25, from_address=MAILBOX, domain=DOMAIN))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def hotline(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings.model_copy(update={"notify": dict(NOTIFY)}), clock=clock)
    yield runtime
    await runtime.close()


def citizen_mail(text: str, message_id: str, *, parent: str | None, refs: str = "") -> bytes:
    mail = EmailMessage()
    mail["From"] = f"张三 <{CITIZEN}>"
    mail["To"] = MAILBOX
    mail["Subject"] = "路灯坏了"
    mail["Date"] = format_datetime(FakeClock().now)
    mail["Message-ID"] = f"<{message_id}>"
    if parent:
        mail["In-Reply-To"] = parent
        mail["References"] = f"{refs} {parent}".strip()
    mail.set_content(text)
    return mail.as_bytes()


async def receive(runtime: Runtime, raw: bytes) -> None:
    parsed = parse_mail(raw, mailbox_address=MAILBOX, received_at=runtime.clock())
    await runtime.gateway.submit(parsed.message)
    await runtime.pipeline_worker(consumer="test").drain(limit_s=30)


async def notified(notifier: Notifier, recorder: Recorder, template: str) -> OutboundMessage:
    await notifier.run_due()
    (message,) = [m for m in recorder.sent if m.template == template]
    return message


async def close(runtime: Runtime, number: str) -> None:
    await accept_and_close(runtime, number)


async def test_notifications_thread_under_the_citizens_latest_mail(hotline: Runtime) -> None:
    email = Recorder("email")
    notifier = Notifier(notifier_parts(hotline), {"email": email})
    try:
        first = citizen_mail("幸福路的路灯坏了。", FIRST_ID, parent=f"<{EARLIER_ID}>")
        await receive(hotline, first)
        ack = await notified(notifier, email, "ack")
        assert ack.params == {"in_reply_to": FIRST_ID, "references": [EARLIER_ID]}
        mail = SMTP.compose(ack)
        assert str(mail["In-Reply-To"]) == f"<{FIRST_ID}>"
        assert str(mail["References"]) == f"<{EARLIER_ID}> <{FIRST_ID}>"
        assert str(mail["Auto-Submitted"]) == "auto-replied"

        # the citizen answers our acknowledgement; the closure then answers that answer
        reply_id = "c2.002@mail.example.test"
        ours = str(mail["Message-ID"])
        await receive(hotline, citizen_mail("补充：在12号门口。", reply_id, parent=ours))
        async with hotline.db.read() as session:
            (ticket,) = list(await session.scalars(select(Ticket)))
        await close(hotline, ticket.number)
        closure = SMTP.compose(await notified(notifier, email, "closed"))
        assert str(closure["In-Reply-To"]) == f"<{reply_id}>"
        assert str(closure["References"]) == f"{ours} <{reply_id}>"
        assert str(closure["Auto-Submitted"]) == "auto-generated"  # a person closed it
    finally:
        await notifier.close()


async def test_mail_without_references_threads_under_its_message_id_alone(
    hotline: Runtime,
) -> None:
    email = Recorder("email")
    notifier = Notifier(notifier_parts(hotline), {"email": email})
    try:
        await receive(hotline, citizen_mail("小区门口积水严重。", FIRST_ID, parent=None))
        mail = SMTP.compose(await notified(notifier, email, "ack"))
        assert str(mail["In-Reply-To"]) == f"<{FIRST_ID}>"
        assert str(mail["References"]) == f"<{FIRST_ID}>"
    finally:
        await notifier.close()


async def test_the_instant_answer_to_a_follow_up_threads_under_it(hotline: Runtime) -> None:
    """ "Added to ticket N" answers the citizen's follow-up mail, not the ticket's first one."""
    email = Recorder("email")
    notifier = Notifier(notifier_parts(hotline), {"email": email})
    try:
        await receive(hotline, citizen_mail("幸福路的路灯坏了。", FIRST_ID, parent=None))
        ours = str(SMTP.compose(await notified(notifier, email, "ack"))["Message-ID"])
        follow_up = "c3.003@mail.example.test"
        await receive(hotline, citizen_mail("补充：晚上七点后全黑。", follow_up, parent=ours))
        await notifier.run_due()
        (answer,) = [m for m in email.sent if m.template == "instant_reply"]
        mail = SMTP.compose(answer)
        assert str(mail["In-Reply-To"]) == f"<{follow_up}>"
        assert str(mail["References"]).split() == [ours, f"<{follow_up}>"]
    finally:
        await notifier.close()
