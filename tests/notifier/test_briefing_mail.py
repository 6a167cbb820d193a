"""The briefings by e-mail, end to end through a real SMTP server: each supervisor with an
e-mail contact gets each briefing once per period (several notifiers, re-runs and crashes
included), as HTML with the PDF attached."""

from __future__ import annotations

import email
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from channels.email.sender import SmtpSender, SmtpSettings
from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.errors import TransientSendError
from intake.domain.models import Staff
from intake.ingest.send_state import SENDING, SENT_PREFIX
from intake.interfaces import OutboundMessage
from intake.reports.briefing import Briefing
from intake.runtime import Runtime
from intake.triage.workdays import default_calendar
from notifier.briefing_settings import BriefingSettings
from notifier.briefings import due_briefings, job_key
from notifier.models import Delivery
from notifier.service import Notifier
from tests.notifier.conftest import FakeClock, MailHandler, Recorder

# Monday 1 June 2026, 10:00 in Shanghai: a working day, a Monday and the 1st
FIRST_MONDAY = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
SUPERVISORS = ("sup-a@city.example.test", "sup-b@city.example.test")


async def member(runtime: Runtime, name: str, role: Role, contact: dict[str, Any]) -> int:
    async with runtime.db.write() as session, session.begin():
        staff, _ = await add_staff(
            session,
            name=name,
            role=role,
            department="environment" if role is Role.HANDLER else None,
            catalog=runtime.catalog,
        )
        staff.contact = contact
    return staff.id


async def people(runtime: Runtime) -> None:
    for i, address in enumerate(SUPERVISORS):
        await member(runtime, f"督办{i}", Role.SUPERVISOR, {"email": address})
    await member(runtime, "督办短信", Role.SUPERVISOR, {"sms": "+8613800000001"})
    await member(runtime, "承办", Role.HANDLER, {"email": "handler@city.example.test"})


def mails(handler: MailHandler) -> list[tuple[str, EmailMessage]]:
    found = []
    for mail in handler.received:
        parsed = email.message_from_bytes(mail.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        found += [(to, parsed) for to in mail.rcpt_tos]
    return found


def pdf_of(mail: EmailMessage) -> tuple[str, str]:
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    data = attachment.get_content()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    return str(attachment.get_filename()), text


async def deliveries(runtime: Runtime) -> dict[str, str]:
    async with runtime.db.read() as session:
        rows = await session.scalars(select(Delivery).where(Delivery.job_key.like("briefing:%")))
        return {row.job_key: row.status for row in rows}


def smtp_sender(port: int) -> SmtpSender:
    return SmtpSender(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            from_address="12345@city.example.test",
            domain="city.example.test",
        )
    )


async def test_each_briefing_once_per_supervisor_across_notifiers(
    nruntime: Runtime,
    smtp_server: tuple[MailHandler, int],
    make_notifier: Callable[..., Notifier],
    clock: FakeClock,
) -> None:
    mailbox, port = smtp_server
    clock.now = FIRST_MONDAY
    await people(nruntime)
    first = make_notifier({"email": smtp_sender(port), "sms": Recorder("sms")})
    second = make_notifier({"email": smtp_sender(port), "sms": Recorder("sms")})
    assert await first.briefings.scan() == 3
    assert await second.briefings.scan() == 0  # the same periods: planned once
    await first.run_due()
    await second.run_due()

    received = mails(mailbox)
    assert sorted(to for to, _ in received) == sorted(SUPERVISORS * 3)
    titles = {str(mail["Subject"]) for _, mail in received}
    assert titles == {
        "12345热线日监测 2026-05-31",
        "12345热线周分析 2026-05-25 至 2026-05-31",
        "12345热线月简报 2026-05-01 至 2026-05-31",
    }
    for _, mail in received:
        html = mail.get_body(preferencelist=("html",))
        assert html is not None and "<svg" in str(html.get_content())
        assert mail["Auto-Submitted"] == "auto-generated"
        name, text = pdf_of(mail)
        assert name.startswith("briefing-") and str(mail["Subject"]).split()[0] in text
        assert "考核指标" in text
    rows = await deliveries(nruntime)
    assert len(rows) == 6 and set(rows.values()) == {"sent"}

    # the day's marker lost and every job run again (a crash, a re-deployment): nothing resent
    await nruntime.redis.client.delete(
        *[f"{first.queue.namespace('briefing')}:{k.rsplit(':', 2)[0]}" for k in rows]
    )
    await second.briefings.scan()
    await second.run_due()
    said = await first.briefings.run_job({}, kind="weekly", today="2026-06-01")
    assert said == "nobody left to send to" and len(mails(mailbox)) == 6


async def test_a_crash_during_a_send_is_not_repeated(
    nruntime: Runtime,
    smtp_server: tuple[MailHandler, int],
    make_notifier: Callable[..., Notifier],
    clock: FakeClock,
) -> None:
    mailbox, port = smtp_server
    clock.now = FIRST_MONDAY
    await people(nruntime)
    notifier = make_notifier({"email": smtp_sender(port)})
    key = job_key(Briefing.DAILY, date(2026, 5, 31))
    ids = await _supervisor_ids(nruntime)
    # a worker died inside the first SMTP call, another after the second but before its row
    await notifier.jc.state.set(f"{key}:staff:{ids[0]}", "email", SENDING)
    await notifier.jc.state.set(f"{key}:staff:{ids[1]}", "email", SENT_PREFIX + "m-1")
    said = await notifier.briefings.run_job({}, kind="daily", today="2026-06-01")
    assert said == "sent to 2" and mails(mailbox) == []
    rows = await deliveries(nruntime)
    assert rows == {f"{key}:staff:{ids[0]}": "unconfirmed", f"{key}:staff:{ids[1]}": "sent"}


async def _supervisor_ids(runtime: Runtime) -> list[int]:
    async with runtime.db.read() as session:
        found = await session.scalars(
            select(Staff.id).where(Staff.role == Role.SUPERVISOR.value).order_by(Staff.id)
        )
        return list(found)[:2]


async def test_a_transient_failure_is_retried_for_that_supervisor_only(
    nruntime: Runtime, make_notifier: Callable[..., Notifier], clock: FakeClock
) -> None:
    clock.now = datetime(2026, 6, 2, 2, 0, tzinfo=UTC)  # Tuesday: the daily only

    def first_call_fails(message: OutboundMessage, calls: int) -> None:
        if calls == 1:
            raise TransientSendError("421 try again later")

    sender = Recorder("email", script=first_call_fails)
    await people(nruntime)
    notifier = make_notifier({"email": sender})
    assert await notifier.briefings.scan() == 1
    await notifier.run_due()
    assert [m.recipient.value for m in sender.sent] == [SUPERVISORS[1]]
    rows = await deliveries(nruntime)
    assert sorted(rows.values()) == ["sending", "sent"]
    clock.advance(seconds=61)
    await notifier.run_due()
    assert sorted(m.recipient.value for m in sender.sent) == sorted(SUPERVISORS)
    assert set((await deliveries(nruntime)).values()) == {"sent"}
    assert sender.sent[0].files[0].data.startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 6, 1, 7, 59), []),  # before the hour
        (datetime(2026, 6, 1, 8, 0), ["daily"]),
        (datetime(2026, 6, 1, 9, 0), ["daily", "weekly", "monthly"]),
        (datetime(2026, 6, 6, 12, 0), []),  # Saturday
        (datetime(2026, 10, 1, 12, 0), ["monthly"]),  # the national holiday: no daily
    ],
)
def test_due_briefings(local: datetime, expected: list[str]) -> None:
    settings = BriefingSettings()
    found = due_briefings(settings, local, default_calendar())
    assert [b.value for b in found] == expected
    off = BriefingSettings(daily_at=None, weekly_at=time(8, 30), monthly_at=None)
    assert "daily" not in [b.value for b in due_briefings(off, local, default_calendar())]
