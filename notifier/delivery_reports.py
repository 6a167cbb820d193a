"""Delivery reports (SMS DLRs) recorded on their delivery and ticket; a failed SMS falls back.

The SMS connector answers the gateway at once and puts each report on
`stream:delivery-reports`; this consumer (group "notifier-reports", at-least-once) finds our
delivery by the id the dlr-url carried (the notifier's job key) and records the state on the
delivery row and, for delivered / buffered / failed / rejected, as a staff-internal ticket event
(`delivery_report`, or `delivery_failed` for a failure).

- Idempotent: each state sets a bit in `deliveries.report_mask`, in the transaction that writes
  its event; a state already seen writes nothing, so redelivered entries and repeated callbacks
  are no-ops.
- Unordered: gateways call back concurrently, so a final state is never
  replaced by an intermediate one.
- Early: a report can beat the record of its own send (the SMSC answers in milliseconds), so a
  report whose send is not recorded yet stays pending and is retried every `retry_ms`, for up
  to `grace_s`.
- A final failure marks the SMS route failed and runs the delivery job again: the `Deliverer`
  tries the next route or, with none left, leaves the "call back by phone" task.
- Instant replies (`reply:<channel>:<external id>`, `notifier.instant`) about a ticket are
  recorded when they are sent, and their reports update that record; one whose record is
  missing (sent before an upgrade, or not about a ticket when sent) gets it from its first
  report. A failure is shown to staff, not retried on another channel.
- Cost: a `delivery_report` event is written as already published. There is one per SMS and
  no consumer of the domain-event stream acts on it; through the outbox it would double the
  event traffic. `delivery_failed` events do go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import EventKind
from intake.domain.events import add_event
from intake.domain.models import Message, Ticket
from intake.error_summary import describe
from intake.ingest.send_state import FAILED as ROUTE_FAILED
from intake.interfaces import DeliveryState
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_nogroup, is_outage
from intake.storage.database import Database
from notifier.context import JobContext
from notifier.jobs import CITIZEN, JobSpec
from notifier.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

GROUP = "notifier-reports"
INSTANT = "instant_reply"  # the template name of intake.ingest.outcomes' instant replies
BIT = {
    DeliveryState.DELIVERED: 1,
    DeliveryState.FAILED: 2,
    DeliveryState.BUFFERED: 4,
    DeliveryState.SUBMITTED: 8,
    DeliveryState.REJECTED: 16,
}
EVENT_OF = {
    DeliveryState.DELIVERED: EventKind.DELIVERY_REPORT,
    DeliveryState.BUFFERED: EventKind.DELIVERY_REPORT,
    DeliveryState.FAILED: EventKind.DELIVERY_FAILED,
    DeliveryState.REJECTED: EventKind.DELIVERY_FAILED,
}
FINAL_STATES = frozenset(
    s.value for s in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.REJECTED)
)
SENT_LIKE = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.UNCONFIRMED.value})
# the send's outcome is on the row: a report about it can be applied
RECORDED = SENT_LIKE | {DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value}


@dataclass(frozen=True)
class Report:
    entry_id: str
    ref: str
    channel: str
    state: DeliveryState
    final: bool
    status: int
    answer: str
    to: str  # masked
    at: str  # the gateway's time, ISO

    @property
    def failed(self) -> bool:
        return self.final and self.state is not DeliveryState.DELIVERED

    @property
    def age_s(self) -> float:
        """Seconds since the connector queued it (stream ids start with Redis' ms clock)."""
        return time.time() - int(self.entry_id.split("-", 1)[0]) / 1000


def parse_entry(entry_id: str, fields: dict[str, Any]) -> Report | None:
    try:
        return Report(
            entry_id=entry_id,
            ref=fields["ref"],
            channel=fields.get("channel") or "sms",
            state=DeliveryState(fields["state"]),
            final=fields.get("final") == "1",
            status=int(fields.get("status") or 0),
            answer=fields.get("answer") or "",
            to=fields.get("to") or "",
            at=fields.get("at") or "",
        )
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Fallback:
    job_key: str
    channel: str
    template: str
    audience: str
    number: str | None


def apply(row: Delivery, report: Report, now: datetime) -> bool:
    """Record the report on the row; False when this state was already recorded."""
    bit = BIT[report.state]
    if (row.report_mask or 0) & bit:
        return False
    row.report_mask = (row.report_mask or 0) | bit
    if report.final or row.report_state not in FINAL_STATES:
        row.report_state = report.state.value
        row.report_detail = report.answer[:1000] or row.report_detail
        row.reported_at = now
    if report.state is DeliveryState.DELIVERED and row.status == DeliveryStatus.UNCONFIRMED:
        row.status = DeliveryStatus.SENT.value  # the send cut off by a crash did go out
    row.updated_at = now
    return True


def needs_fallback(row: Delivery, report: Report) -> bool:
    """A final failure of the route the delivery took, not contradicted by a success.

    A row already back to "sending" is a fallback begun before a crash: it is run again
    (enqueueing is idempotent)."""
    return (
        report.failed
        and row.template != INSTANT
        and row.channel == report.channel
        and not (row.report_mask or 0) & BIT[DeliveryState.DELIVERED]
        and row.status in (*SENT_LIKE, DeliveryStatus.SENDING.value)
    )


def event_data(row: Delivery, report: Report) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_key": row.job_key,
        "template": row.template,
        "audience": row.audience,
        "channel": row.channel,
        "recipient": row.recipient,
        "state": report.state.value,
        "final": report.final,
        "status": report.status,
        "answer": report.answer,
        "reported_at": report.at,
    }
    if report.failed:
        data["error"] = f"{report.state.value}: {report.answer}".rstrip(": ")
    return data


class DeliveryReports:
    """The consumer; `run` for the service, `poll` for one batch (tests, `run_due`)."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        db: Database,
        jc: JobContext,
        grace_s: float = 300.0,
        retry_ms: int = 2000,
        consumer: str | None = None,
    ) -> None:
        self._redis = redis
        self._stream = keys.delivery_reports
        self._db = db
        self._jc = jc
        self._grace = grace_s
        # a waiting report is looked at again this soon (also taken over from a dead
        # consumer: handling one twice is harmless)
        self._retry_ms = min(retry_ms, jc.cfg.claim_idle_ms)
        self._group = False
        self.name = consumer or f"{socket.gethostname()}-{os.getpid()}-reports"

    async def ensure_group(self) -> None:
        if not self._group:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
            self._group = True

    async def run(self, stop: asyncio.Event) -> None:
        outages = OutageGuard("delivery reports", logger=log)
        while not stop.is_set():
            try:
                await self.poll(block_ms=self._jc.cfg.block_ms)
                outages.ok()
            except Exception as exc:  # the batch stays pending and is claimed again
                if is_nogroup(exc):  # Redis restarted without its data: create it again
                    self._group = False
                    continue
                if is_outage(exc):
                    await outages.pause(exc, stop)
                    continue
                log.warning("delivery reports: %s", describe(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def poll(self, *, block_ms: int | None = None) -> int:
        """Handle one batch (stale entries first); returns how many entries were settled."""
        await self.ensure_group()
        parsed = [(i, parse_entry(i, f)) for i, f in await self._read(block_ms)]
        reports = [r for _, r in parsed if r is not None]
        settled = [i for i, r in parsed if r is None]
        for entry_id in settled:
            log.warning("delivery report %s is malformed; dropped", entry_id)
        if reports:
            settled += await self._handle(reports)
        if settled:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, GROUP, *settled).xdel(self._stream, *settled)
                await pipe.execute()
        return len(settled)

    async def _read(self, block_ms: int | None) -> list[tuple[str, dict[str, Any]]]:
        cfg = self._jc.cfg
        claimed = await self._redis.xautoclaim(
            self._stream,
            GROUP,
            self.name,
            min_idle_time=self._retry_ms,
            start_id="0-0",
            count=cfg.batch_size,
        )
        entries = [(i, f) for i, f in claimed[1] if f]
        if entries:
            return entries
        read = await self._redis.xreadgroup(
            GROUP, self.name, {self._stream: ">"}, count=cfg.batch_size, block=block_ms
        )
        return [e for _, batch in read or [] for e in batch]

    async def _handle(self, reports: list[Report]) -> list[str]:
        try:
            settled, fallbacks = await self._record(reports)
        except IntegrityError:  # another consumer created the same instant-reply record
            settled, fallbacks = await self._record(reports)
        for fallback in fallbacks:
            await self._fall_back(fallback)
        return settled

    async def _record(self, reports: list[Report]) -> tuple[list[str], list[Fallback]]:
        """One transaction for the batch; reports whose send is not recorded yet wait."""
        now = self._jc.clock()
        settled: list[str] = []
        fallbacks: dict[str, Fallback] = {}
        async with self._db.write() as session, session.begin():
            rows = await self._rows(session, reports, now)
            tickets = await _tickets(session, rows.values())
            for report in reports:
                row = rows.get(report.ref)
                recorded = row is not None and row.status in RECORDED
                if not recorded and report.age_s < self._grace:
                    continue
                settled.append(report.entry_id)
                if row is None:
                    log.info("delivery report ref=%s: no such delivery; dropped", report.ref)
                    continue
                ticket = tickets.get(row.ticket_id or 0)
                if apply(row, report, now) and ticket is not None:
                    _event(session, ticket, row, report, now)
                fallback = _failure(row, report, ticket) if report.failed else None
                if fallback is not None:
                    fallbacks[fallback.job_key] = fallback
        return settled, list(fallbacks.values())

    async def _rows(
        self, session: AsyncSession, reports: list[Report], now: datetime
    ) -> dict[str, Delivery]:
        refs = sorted({r.ref for r in reports})
        query = select(Delivery).where(Delivery.job_key.in_(refs)).order_by(Delivery.id)
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        rows = {row.job_key: row for row in await session.scalars(query)}
        for report in reports:
            if report.ref not in rows and (made := await _instant_row(session, report, now)):
                rows[report.ref] = made
        return rows

    async def _fall_back(self, fallback: Fallback) -> None:
        """Mark the route failed and run the job again, so that it takes the next route."""
        await self._jc.state.set(fallback.job_key, fallback.channel, ROUTE_FAILED)
        spec = await self._stored_spec(fallback)
        if spec is None:
            log.warning(
                "job=%s: no job to fall back with; the failure is on the ticket", fallback.job_key
            )
            return
        await self._jc.enqueue(spec, queue_key=f"{fallback.job_key}~report")
        log.info(
            "job=%s ticket=%s: %s failed, falling back", spec.key, spec.number, fallback.channel
        )

    async def _stored_spec(self, fallback: Fallback) -> JobSpec | None:
        """The job as it was enqueued (saq keeps finished jobs for `job_ttl`), else rebuilt
        from the delivery row: enough for a citizen's remaining routes and call-back task."""
        job = await self._jc.queue.job_of(fallback.job_key)
        raw = job.kwargs.get("spec") if job is not None else None
        if isinstance(raw, dict):
            return JobSpec.from_kwargs(raw)
        if fallback.audience != CITIZEN or fallback.number is None:
            return None
        return JobSpec(key=fallback.job_key, template=fallback.template, number=fallback.number)


def _failure(row: Delivery, report: Report, ticket: Ticket | None) -> Fallback | None:
    """A failed send: the row says so; a job's delivery returns to "sending" to fall back."""
    error = f"{report.channel} {report.state.value}: {report.answer}".strip()[:1000]
    number = ticket.number if ticket else None
    if row.status in SENT_LIKE:
        log.info("job=%s ticket=%s to %s: %s", row.job_key, number, row.recipient, error)
    if row.template == INSTANT and row.status in SENT_LIKE:
        row.status, row.last_error = DeliveryStatus.FAILED.value, error
    if not needs_fallback(row, report):
        return None
    row.status, row.last_error = DeliveryStatus.SENDING.value, error  # not final: runs again
    return Fallback(row.job_key, report.channel, row.template, row.audience, number)


async def _instant_row(session: AsyncSession, report: Report, now: datetime) -> Delivery | None:
    """The delivery record of an instant reply, on the ticket of the message it answered."""
    head = f"reply:{report.channel}:"
    if not report.ref.startswith(head):
        return None
    ticket_id = await session.scalar(
        select(Message.ticket_id).where(
            Message.channel == report.channel, Message.external_id == report.ref[len(head) :]
        )
    )
    if ticket_id is None:
        return None
    row = Delivery(
        job_key=report.ref,
        ticket_id=ticket_id,
        audience=CITIZEN,
        template=INSTANT,
        channel=report.channel,
        recipient=report.to or None,
        status=DeliveryStatus.SENT.value,
        attempts=1,
        report_mask=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    return row


async def _tickets(session: AsyncSession, rows: Iterable[Delivery]) -> dict[int, Ticket]:
    ids = {row.ticket_id for row in rows if row.ticket_id is not None}
    if not ids:
        return {}
    found = await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))
    return {ticket.id: ticket for ticket in found}


def _event(
    session: AsyncSession, ticket: Ticket, row: Delivery, report: Report, now: datetime
) -> None:
    kind = EVENT_OF.get(report.state)
    if kind is None:
        return
    event = add_event(session, ticket, kind, at=now, public=False, data=event_data(row, report))
    # one per SMS, and nothing acts on them: kept off the domain-event stream (see above)
    event.published = kind is EventKind.DELIVERY_REPORT
