"""The briefings by e-mail: the 日监测 on working days, the 周分析 on Mondays and the 月简报 on
the 1st, to every active supervisor with an e-mail contact, as one mail each with the page as
its HTML body and the same page as a PDF attached.

Once per period, whatever happens: the periodic scan enqueues one saq job per briefing and
period (`briefing:<kind>:<first day>`, a no-op when it is already there), and a Redis marker
spares later scans of the day the enqueue. The job renders the briefing once and sends it
through the notifier's e-mail sender; per supervisor, the send state's claim
(`notifier.claim`: "sending", then "sent:<id>") keeps a re-run after a crash or a retry from
sending twice (a send cut off half-way is recorded `unconfirmed`, not repeated), and the
outcome is a `deliveries` row of the job key `briefing:<kind>:<first day>:staff:<id>`.
Settings: `notify.briefings` (`INTAKE_NOTIFY__BRIEFINGS__DAILY_AT=08:00`; a time of None
turns that briefing off).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from intake.domain.enums import Role
from intake.domain.errors import PermanentSendError, TransientSendError
from intake.domain.models import Staff
from intake.ingest.send_state import FAILED, SENDING, SENT_PREFIX
from intake.interfaces import OutboundFile, OutboundMessage, Sender
from intake.reports.briefing import Briefing
from intake.reports.briefing_pdf import PDF, BriefingDocument, briefing_document
from intake.triage.workdays import WorkCalendar, default_calendar
from notifier.briefing_settings import BriefingSettings
from notifier.context import JobContext
from notifier.models import FINAL_DELIVERY, Delivery, DeliveryStatus
from notifier.routing import Route, staff_routes

log = logging.getLogger(__name__)

BRIEFING = "briefing"  # the saq function
CHANNEL = "email"
MARK_TTL = 3 * 86400
MAX_WAITS = 20  # rate-limit waits per recipient before the job is retried later


def due_briefings(
    settings: BriefingSettings, local: datetime, calendar: WorkCalendar
) -> list[Briefing]:
    """The briefings whose day and time have come at the local moment `local`."""
    today, now = local.date(), local.time()
    found = []
    if settings.daily_at and now >= settings.daily_at and calendar.is_working_day(today):
        found.append(Briefing.DAILY)
    if settings.weekly_at and now >= settings.weekly_at and today.weekday() == 0:
        found.append(Briefing.WEEKLY)
    if settings.monthly_at and now >= settings.monthly_at and today.day == 1:
        found.append(Briefing.MONTHLY)
    return found


def job_key(kind: Briefing, first: date) -> str:
    return f"briefing:{kind.value}:{first:%Y%m%d}"


@dataclass(frozen=True)
class Recipient:
    staff_id: int
    route: Route
    key: str  # the delivery's job key


class BriefingMailer:
    def __init__(
        self,
        jc: JobContext,
        redis: Redis,
        sender: Sender | None,
        settings: BriefingSettings,
        *,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.jc, self._redis, self.sender, self.settings = jc, redis, sender, settings
        self._calendar = calendar

    async def scan(self) -> int:
        """Enqueue the briefings due now (once per period); returns how many were new."""
        if self.sender is None:
            return 0
        local = self.jc.clock().astimezone(self.jc.cfg.zone)
        calendar = self._calendar or default_calendar()
        planned = 0
        for kind in due_briefings(self.settings, local, calendar):
            key = job_key(kind, kind.period(local.date()).first)
            marker = f"{self.jc.queue.namespace('briefing')}:{key}"
            if await self._redis.exists(marker):
                continue
            job = await self.jc.queue.enqueue(
                BRIEFING,
                key=key,
                retries=self.jc.cfg.max_attempts,
                timeout=self.settings.job_timeout,
                ttl=self.jc.cfg.job_ttl,
                retry_delay=self.settings.retry_delay,
                retry_backoff=True,
                kind=kind.value,
                today=local.date().isoformat(),
            )
            await self._redis.set(marker, "1", ex=MARK_TTL)  # after: a crash only re-enqueues
            planned += job is not None
            log.info("briefing %s planned", key)
        return planned

    async def run_job(self, ctx: dict[str, Any], *, kind: str, today: str) -> str:
        """The saq job: render once, send to each supervisor not yet served."""
        if self.sender is None:
            return "no e-mail sender"
        chosen, day = Briefing(kind), date.fromisoformat(today)
        key = job_key(chosen, chosen.period(day).first)
        recipients = await self._pending(key)
        if not recipients:
            return "nobody left to send to"
        async with self.jc.db.read() as session:
            document = await briefing_document(session, kind=chosen, today=day)
        failures = [exc for r in recipients if (exc := await self._send(document, r))]
        if failures:  # saq retries the job; those already served are not sent to again
            raise failures[0]
        return f"sent to {len(recipients)}"

    async def _pending(self, key: str) -> list[Recipient]:
        async with self.jc.db.read() as session:
            members = await session.scalars(
                select(Staff)
                .where(Staff.role == Role.SUPERVISOR.value, Staff.active.is_(True))
                .order_by(Staff.id)
            )
            found = []
            for member in members:
                routes = [r for r in staff_routes(member) if r.channel == CHANNEL]
                if routes:
                    found.append(Recipient(member.id, routes[0], f"{key}:staff:{member.id}"))
            done = set(
                await session.scalars(
                    select(Delivery.job_key).where(
                        Delivery.job_key.in_([r.key for r in found]),
                        Delivery.status.in_([s.value for s in FINAL_DELIVERY]),
                    )
                )
            )
        return [r for r in found if r.key not in done]

    async def _send(self, document: BriefingDocument, to: Recipient) -> Exception | None:
        """One supervisor's mail; a transient failure is returned for the job to retry."""
        assert self.sender is not None
        for _ in range(MAX_WAITS):
            (claim,) = await self.jc.claims.claim_many(
                [(to.key, CHANNEL, self.jc.buckets(to.route))], now=self.jc.clock().timestamp()
            )
            if not claim.wait:
                break
            await asyncio.sleep(min(claim.wait, 5.0))
        else:
            return TransientSendError("rate limited", retry_after=self.settings.retry_delay)
        if claim.state is not None:  # an earlier run got this far: record, never resend
            status, extra = _settled(claim.state)
            await self._record(document, to, status, **extra)
            return None
        try:
            result = await self.sender.send(_message(document, to))
        except PermanentSendError as exc:
            await self.jc.state.set(to.key, CHANNEL, FAILED)
            await self._record(document, to, DeliveryStatus.FAILED, error=str(exc))
            log.warning("briefing %s to %s failed: %s", to.key, to.route.masked, exc)
            return None
        except Exception as exc:
            await self.jc.state.clear(to.key, CHANNEL)  # not sent: safe to try again
            await self._record(document, to, DeliveryStatus.SENDING, error=str(exc))
            log.warning("briefing %s to %s will be retried: %s", to.key, to.route.masked, exc)
            return exc
        await self.jc.state.set(to.key, CHANNEL, SENT_PREFIX + (result.provider_id or ""))
        await self._record(document, to, DeliveryStatus.SENT, provider_id=result.provider_id)
        log.info("briefing %s sent to %s", to.key, to.route.masked)
        return None

    async def _record(
        self,
        document: BriefingDocument,
        to: Recipient,
        status: DeliveryStatus,
        *,
        error: str | None = None,
        provider_id: str | None = None,
    ) -> None:
        now = self.jc.clock()
        row = {
            "job_key": to.key,
            "ticket_id": None,
            "audience": "staff",
            "template": f"briefing_{document.kind.value}",
            "channel": CHANNEL,
            "recipient": to.route.masked,
            "status": status.value,
            "attempts": 0 if status is DeliveryStatus.UNCONFIRMED else 1,
            "last_error": error[:1000] if error else None,
            "provider_id": provider_id,
            "created_at": now,
            "updated_at": now,
            "sent_at": now if status is DeliveryStatus.SENT else None,
        }
        async with self.jc.db.engine.begin() as conn:
            await conn.execute(_upsert(self.jc.db.dialect), row)


def _settled(state: str) -> tuple[DeliveryStatus, dict[str, Any]]:
    if state.startswith(SENT_PREFIX):
        return DeliveryStatus.SENT, {"provider_id": state[len(SENT_PREFIX) :] or None}
    if state == SENDING:
        error = "the worker stopped during the send; not repeated (at most once)"
        return DeliveryStatus.UNCONFIRMED, {"error": error}
    return DeliveryStatus.FAILED, {"error": f"send state {state}"}


def _message(document: BriefingDocument, to: Recipient) -> OutboundMessage:
    assert document.pdf is not None
    text = f"{document.title}\n\n简报全文见本邮件的网页正文，PDF 版见附件 {document.filename()}。"
    return OutboundMessage(
        recipient=to.route.recipient,
        text=text,
        job_key=to.key,
        subject=document.title,
        html=document.html,
        template=BRIEFING,
        params={"auto_submitted": "auto-generated"},
        files=(OutboundFile(document.filename(), PDF, document.pdf),),
    )


@cache
def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (job_key) DO UPDATE: a retry carries the row on."""
    table = Delivery.__table__
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    new, old = statement.excluded, table.c
    return statement.on_conflict_do_update(
        index_elements=[old.job_key],
        set_={
            "status": new.status,
            "attempts": old.attempts + new.attempts,
            "last_error": new.last_error,
            "provider_id": new.provider_id,
            "updated_at": new.updated_at,
            "sent_at": new.sent_at,
        },
    )
