"""The mayor's mailbox end to end, through the running pieces of the service: a real Dovecot
(IMAP reader) → intake gateway → pipeline worker → notifier → SmtpSender → a real aiosmtpd.

A citizen's mail becomes a ticket and is acknowledged (ticket number, query code, RFC 3834
auto-reply, our Message-ID carrying the ticket); their reply to that acknowledgement is a
follow-up on the same ticket; after the ticket is closed, a reply later than the window is a
new request naming the old ticket, and one inside the window reopens it. The clock of the
service is injected and the mails' arrival times (INTERNALDATE, what the reader takes as
"received") are set through IMAP APPEND: nothing waits for time to pass.
"""

from __future__ import annotations

import asyncio
import email
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from typing import TypeVar

import aioimaplib
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from channels.email.connector import EmailConnector
from channels.email.ids import ticket_from_message_id
from intake.config import Settings
from intake.domain.models import Ticket, TicketEvent
from intake.runtime import Runtime
from notifier import models as _notifier_models  # noqa: F401  (tables' metadata)
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.conftest import unavailable
from tests.core.helpers import accept_and_close
from tests.email.dovecot_peer import (
    ADDRESS,
    PASSWORD,
    USER,
    Dovecot,
    dovecot_binary,
    fixture,
    free_port,
    remove,
    start_dovecot,
)
from tests.notifier.conftest import NOTIFY, FakeClock, MailHandler
from tests.polling import poll as poll_until

pytestmark = pytest.mark.integration
T = TypeVar("T")
CITIZEN = "zhangsan@example.test"  # the sender of fixture 01_utf8_plain.eml
FIRST_MAIL_ID = "<c1.001@mail.example.test>"  # its Message-ID (it has no References)
DOMAIN = ADDRESS.rpartition("@")[2]


@dataclass
class Hotline:
    runtime: Runtime
    dovecot: Dovecot
    smtp: MailHandler
    notifier: Notifier
    clock: FakeClock


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if dovecot_binary() is None:
        unavailable("dovecot (apt-get install dovecot-imapd)")
    peer = start_dovecot()
    yield peer
    remove(peer)


@pytest.fixture
def smtp() -> Iterator[tuple[MailHandler, int]]:
    handler, port = MailHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
async def hotline(
    settings: Settings, dovecot: Dovecot, smtp: tuple[MailHandler, int]
) -> AsyncIterator[Hotline]:
    handler, port = smtp
    # in the past: Dovecot keeps an APPEND's INTERNALDATE only when it is not in the future
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=30))
    mail = dovecot.settings(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none")
    configured = settings.model_copy(update={"notify": dict(NOTIFY), "email": mail})
    runtime = await Runtime.open(configured, clock=clock)
    from service.connectors import build_connectors
    from service.settings import service_settings

    connector = build_connectors(runtime, service_settings(runtime.settings))["email"]
    assert isinstance(connector, EmailConnector)
    sender = connector.sender()
    assert sender is not None
    notifier = Notifier(notifier_parts(runtime), {"email": sender})
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="e2e").run(stop))
    readers = [asyncio.create_task(job()) for job in connector.background_tasks()]
    try:
        yield Hotline(runtime, dovecot, handler, notifier, clock)
    finally:
        stop.set()
        for task in readers:
            task.cancel()
        await asyncio.gather(worker, *readers, return_exceptions=True)
        await notifier.close()
        await runtime.close()


async def poll(predicate: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    return await poll_until(predicate, timeout, 0.05)


def parsed(content: bytes) -> EmailMessage:
    mail = email.message_from_bytes(content, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    return mail


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def mail_arrives(hotline: Hotline, count: int) -> Callable[[], Awaitable[list[EmailMessage]]]:
    """Runs the notifier's due work until `count` mails reached the citizen."""

    async def check() -> list[EmailMessage]:
        await hotline.notifier.run_due()
        got = [parsed(m.content) for m in hotline.smtp.received if CITIZEN in m.rcpt_tos]
        return got if len(got) >= count else []

    return check


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(Ticket).order_by(Ticket.id)))


def ticket_count(runtime: Runtime, n: int) -> Callable[[], Awaitable[list[Ticket]]]:
    async def check() -> list[Ticket]:
        found = await tickets(runtime)
        return found if len(found) >= n else []

    return check


async def events(runtime: Runtime, number: str, kind: str) -> list[TicketEvent]:
    async with runtime.db.read() as session:
        found = await session.scalars(
            select(TicketEvent)
            .join(Ticket)
            .where(Ticket.number == number, TicketEvent.kind == kind)
            .order_by(TicketEvent.id)
        )
        return list(found)


def event_count(runtime: Runtime, number: str, kind: str, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(await events(runtime, number, kind)) >= n

    return check


def threads_under(ours: EmailMessage, theirs: str, *, references: str = "") -> bool:
    """Our mail answers the citizen's mail `theirs` (whose own References were `references`)."""
    return str(ours["In-Reply-To"]) == theirs and str(ours["References"]) == " ".join(
        [*references.split(), theirs]
    )


def citizen_reply(to: EmailMessage, text: str, n: int) -> bytes:
    """What the citizen's mail client sends when they answer our mail `to`."""
    mail = EmailMessage()
    mail["From"] = f"张三 <{CITIZEN}>"
    mail["To"] = ADDRESS
    mail["Subject"] = f"Re: {to['Subject']}"
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = f"<reply-{n}.{time.time_ns()}@mail.example.test>"
    mail["In-Reply-To"] = str(to["Message-ID"])
    mail["References"] = str(to["Message-ID"])
    quoted = "\n".join(f"> {line}" for line in text_of(to).splitlines())
    mail.set_content(f"{text}\n\n在 2026年11月21日，12345热线 写道：\n{quoted}\n")
    return mail.as_bytes()


async def append(dovecot: Dovecot, raw: bytes, *, at: datetime) -> None:
    """IMAP APPEND with an INTERNALDATE: the time the service reads as 'received'."""
    client = aioimaplib.IMAP4(host="127.0.0.1", port=dovecot.port, timeout=10)
    await client.wait_hello_from_server()
    await client.login(USER, PASSWORD)
    response = await client.append(raw, mailbox="INBOX", date=at)
    assert response.result == "OK", response.lines
    await client.logout()


async def close_ticket(hotline: Hotline, number: str) -> None:
    await accept_and_close(hotline.runtime, number, clock=hotline.clock)


async def test_mail_ticket_acknowledgement_follow_up_and_reopen(hotline: Hotline) -> None:
    runtime = hotline.runtime
    await append(hotline.dovecot, fixture("01_utf8_plain.eml"), at=hotline.clock())
    (ticket,) = await poll(ticket_count(runtime, 1))
    assert ticket.title == "路灯坏了"  # the subject, not the body's first line ("您好，…")

    (ack,) = await poll(mail_arrives(hotline, 1))
    assert ticket.number in text_of(ack) and ticket.query_code in text_of(ack)
    assert f"[{ticket.number}]" in str(ack["Subject"])
    assert str(ack["Auto-Submitted"]) == "auto-replied"
    assert ticket_from_message_id(str(ack["Message-ID"]), DOMAIN) == ticket.number
    assert ack["To"].addresses[0].addr_spec == CITIZEN
    assert str(ack["In-Reply-To"]) == FIRST_MAIL_ID  # it answers the citizen's mail
    assert str(ack["References"]).split()[-1] == FIRST_MAIL_ID

    # the citizen answers the acknowledgement: a follow-up on the same ticket, confirmed
    answer = citizen_reply(ack, "补充：在幸福路12号门口。", 1)
    await append(hotline.dovecot, answer, at=hotline.clock())
    await poll(event_count(runtime, ticket.number, "follow_up", 1))
    (follow_up,) = await events(runtime, ticket.number, "follow_up")
    assert follow_up.text == "补充：在幸福路12号门口。" and follow_up.actor_kind == "citizen"
    confirmation = (await poll(mail_arrives(hotline, 2)))[1]
    assert ticket.number in text_of(confirmation) and "补充" in text_of(confirmation)
    assert str(confirmation["Auto-Submitted"]) == "auto-replied"
    assert len(await tickets(runtime)) == 1

    # closed: the closure notice goes out (not an auto-reply: a person closed it)
    hotline.clock.advance(hours=1)
    await close_ticket(hotline, ticket.number)
    closure = (await poll(mail_arrives(hotline, 3)))[2]
    assert "已办结" in text_of(closure)
    assert str(closure["Auto-Submitted"]) == "auto-generated"
    # threaded under the citizen's latest mail on the ticket: their answer to our ack
    answered = parsed(answer)
    assert threads_under(
        closure, str(answered["Message-ID"]), references=str(answered["References"])
    )
    closed_at = hotline.clock()

    # an answer eight days later is a new matter (the window is seven days) naming the old one
    late = citizen_reply(closure, "路灯又坏了，这次是另一侧。", 2)
    await append(hotline.dovecot, late, at=closed_at + timedelta(days=8))
    _, fresh = await poll(ticket_count(runtime, 2))
    assert fresh.content.startswith("路灯又坏了") and fresh.number != ticket.number
    (received,) = await events(runtime, fresh.number, "received")
    (decision,) = [d for d in received.data["decisions"] if d["step"] == "closed_reply"]
    assert decision["outcome"] == "new_request" and decision["ticket"] == ticket.number
    new_ack = (await poll(mail_arrives(hotline, 4)))[3]
    assert fresh.number in text_of(new_ack)
    late_mail = parsed(late)
    assert threads_under(
        new_ack, str(late_mail["Message-ID"]), references=str(late_mail["References"])
    )

    # an answer inside the window reopens the ticket, the citizen being its actor
    inside = citizen_reply(closure, "还是不亮，请再来看看。", 3)
    await append(hotline.dovecot, inside, at=closed_at + timedelta(days=6))
    await poll(event_count(runtime, ticket.number, "reopened", 1))
    (reopened,) = await events(runtime, ticket.number, "reopened")
    assert reopened.actor_kind == "citizen" and reopened.data["reason"] == "citizen_reply"
    (again,) = [t for t in await tickets(runtime) if t.number == ticket.number]
    assert again.status == "reopened" and again.closed_at is None
    follow_ups = await events(runtime, ticket.number, "follow_up")
    assert [e.text for e in follow_ups][-1] == "还是不亮，请再来看看。"
    assert len(await tickets(runtime)) == 2
    confirmation = (await poll(mail_arrives(hotline, 5)))[4]
    assert ticket.number in text_of(confirmation)
