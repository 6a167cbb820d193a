"""Retention: closed tickets lose their personal data after a while, and keep their facts.

`closed_days` after closure the raw messages (payload and text), the attachments (files and
rows) and the delivery details (recipient, provider texts) go; `text_days` after closure the
ticket's free text and contact, its events' texts and the reasons given in surveys go too
(`intake.privacy.personal_data` says what stays). Messages that never reached a ticket lose their
raw
data `closed_days` after they arrived.

`purge` is idempotent: it may run in several processes, be interrupted and run again. Each
completed run is written to the audit log with its cut-offs; the next run looks only at what
closed after the last run's cut-offs (less a day), so a daily run does not walk all history.
Worker processes run it once per `interval_hours` (`retention_loop`), one process at a time
through a Redis key that also says when it last ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from intake.config import RetentionSettings
from intake.domain.clock import Clock
from intake.domain.enums import TicketStatus
from intake.domain.models import Message, Ticket
from intake.error_summary import describe
from intake.ingest.attachments import AttachmentStore
from intake.privacy import audit
from intake.privacy.audit import AuditEntry
from intake.privacy.personal_data import (
    ERASED,
    erase_event_text,
    erase_ticket_text,
    remove_attachments,
    scrub_deliveries,
    scrub_prompt_answers,
)
from intake.redis.connection import RedisHandle
from intake.storage.database import Database

log = logging.getLogger(__name__)

PURGE = "purge"
PAGE = 500
OVERLAP = timedelta(days=1)  # the next run looks back this far past the last run's cut-off
FIRST_RUN_DELAY_S = 60.0  # after start-up: the service first settles
CHECK_EVERY_S = 3600.0  # whether the interval has passed (another process may have run it)
RETRY_AFTER_FAILURE_S = 600.0


@dataclass
class PurgeReport:
    tickets: int = 0  # tickets whose raw data went
    messages: int = 0
    attachments: int = 0
    files: int = 0
    deliveries: int = 0
    tickets_text: int = 0  # tickets whose free text went
    events: int = 0
    prompts: int = 0

    def __add__(self, other: PurgeReport) -> PurgeReport:
        return PurgeReport(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def describe(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in asdict(self).items())


async def purge(
    db: Database,
    store: AttachmentStore,
    *,
    settings: RetentionSettings,
    now: datetime,
    operator: str = "retention",
) -> PurgeReport:
    """Remove what is past its time; audited. Safe to run again or in several processes."""
    raw_cutoff = now - timedelta(days=settings.closed_days)
    text_cutoff = now - timedelta(days=settings.text_days)
    raw_since, text_since = await _last_cutoffs(db)
    report = PurgeReport()
    async for ids in _pages(db, _closed_between(raw_since, raw_cutoff)):
        report += await _purge_raw(db, store, ids)
    report.messages += await _purge_loose_messages(db, raw_since, raw_cutoff)
    text_due = _closed_between(text_since, text_cutoff)
    async for ids in _pages(db, [*text_due, Ticket.content != ERASED]):
        report += await _purge_text(db, store, ids)
    async with db.write() as session, session.begin():
        audit.record(
            session,
            action=PURGE,
            operator=operator,
            subject=f"closed before {raw_cutoff.date()} / {text_cutoff.date()}",
            at=now,
            details={
                "raw_cutoff": raw_cutoff.isoformat(),
                "text_cutoff": text_cutoff.isoformat(),
                **asdict(report),
            },
        )
    log.info("retention purge: %s", report.describe())
    return report


async def retention_loop(
    db: Database,
    redis: RedisHandle,
    store: AttachmentStore,
    *,
    settings: RetentionSettings,
    clock: Clock,
    stop: asyncio.Event,
    first_delay_s: float = FIRST_RUN_DELAY_S,
) -> None:
    """Once per `interval_hours` across all processes: the first to take the key runs it."""
    if not settings.enabled:
        return
    interval_s = settings.interval_hours * 3600
    key = redis.keys.lock("retention")
    wait = first_delay_s
    while not await _stopped(stop, wait):
        wait = min(interval_s, CHECK_EVERY_S)
        try:
            if not await redis.client.set(key, clock().isoformat(), nx=True, ex=int(interval_s)):
                continue  # another process ran it within the interval
            try:
                await purge(db, store, settings=settings, now=clock())
            except BaseException:
                await redis.client.delete(key)  # not done: the next look may run it
                raise
        except Exception as exc:
            log.warning("retention purge failed: %s; trying again later", describe(exc))
            wait = RETRY_AFTER_FAILURE_S


async def _stopped(stop: asyncio.Event, wait: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), wait)
    return stop.is_set()


def _closed_between(since: datetime | None, before: datetime) -> list[ColumnElement[bool]]:
    conditions = [Ticket.status == TicketStatus.CLOSED.value, Ticket.closed_at < before]
    if since is not None:
        conditions.append(Ticket.closed_at >= since)
    return conditions


async def _pages(db: Database, conditions: list[ColumnElement[bool]]) -> AsyncIterator[list[int]]:
    """Ticket ids matching, a page at a time in id order (each page its own transaction)."""
    last = 0
    while True:
        async with db.read() as session:
            query = select(Ticket.id).where(*conditions, Ticket.id > last)
            ids = list(await session.scalars(query.order_by(Ticket.id).limit(PAGE)))
        if not ids:
            return
        yield ids
        last = ids[-1]


async def _purge_raw(db: Database, store: AttachmentStore, ids: list[int]) -> PurgeReport:
    async with db.write() as session, session.begin():
        return await _raw_of(session, store, ids)


async def _raw_of(session: AsyncSession, store: AttachmentStore, ids: list[int]) -> PurgeReport:
    messages = await session.execute(
        update(Message)
        .where(Message.ticket_id.in_(ids), _has_raw())
        .values(text="", payload={})
        .execution_options(synchronize_session=False)
    )
    rows, files = await remove_attachments(session, store, ids)
    deliveries = await scrub_deliveries(session, ids)
    count = int(messages.rowcount or 0)  # type: ignore[attr-defined]
    touched = int(bool(count or rows or deliveries))
    return PurgeReport(
        tickets=touched, messages=count, attachments=rows, files=files, deliveries=deliveries
    )


async def _purge_loose_messages(db: Database, since: datetime | None, before: datetime) -> int:
    """Messages that reached no ticket (status queries, ratings, dropped ones)."""
    conditions = [Message.ticket_id.is_(None), Message.received_at < before, _has_raw()]
    if since is not None:
        conditions.append(Message.received_at >= since)
    async with db.write() as session, session.begin():
        result = await session.execute(
            update(Message)
            .where(*conditions)
            .values(text="", payload={})
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _purge_text(db: Database, store: AttachmentStore, ids: list[int]) -> PurgeReport:
    async with db.write() as session, session.begin():
        report = await _raw_of(session, store, ids)  # text_days may be the shorter time
        tickets = list(await session.scalars(select(Ticket).where(Ticket.id.in_(ids))))
        for ticket in tickets:
            erase_ticket_text(ticket)
        report.tickets_text = len(tickets)
        report.events = await erase_event_text(session, ids)
        report.prompts = await scrub_prompt_answers(session, ids)
    return report


def _has_raw() -> ColumnElement[bool]:
    return or_(Message.text != "", cast(Message.payload, String) != "{}")


async def _last_cutoffs(db: Database) -> tuple[datetime | None, datetime | None]:
    """The cut-offs of the last completed run, less the overlap; None before the first run."""
    async with db.read() as session:
        last = await session.scalar(
            select(AuditEntry)
            .where(AuditEntry.action == PURGE)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    if last is None:
        return None, None
    try:
        raw = datetime.fromisoformat(last.details["raw_cutoff"]) - OVERLAP
        text = datetime.fromisoformat(last.details["text_cutoff"]) - OVERLAP
    except (KeyError, TypeError, ValueError):
        return None, None
    return raw, text
