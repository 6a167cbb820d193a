"""The durable record of deliveries: a `deliveries` row per job key and ticket events.

Every attempt and its outcome is a ticket event (staff-internal): NOTIFIED on success,
DELIVERY_FAILED on each failure, and a NOTE carrying `{"task": "callback_by_phone"}` when no
channel could reach a citizen, for an agent to pick up. The outcomes of a batch of jobs are
gathered in a `Ledger` and written in one transaction: one upsert for all the delivery rows
and one insert for all the events (executemany). Until then the send state in Redis
(`intake.ingest.send_state`) is what keeps a re-run from sending again, so a crash before the commit
loses no fact: the re-run records what the state says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite

from intake import metrics
from intake.domain.enums import EventKind
from intake.domain.events import event_row, insert_events
from intake.storage.database import Database
from notifier.jobs import JobSpec
from notifier.models import Delivery, DeliveryStatus, Prompt

CALLBACK_TASK = "callback_by_phone"


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    channel: str | None = None
    recipient: str | None = None
    provider_id: str | None = None
    error: str | None = None
    event: EventKind | None = None  # the ticket event to write, if any
    data: dict[str, Any] | None = None
    text: str | None = None
    attempt: bool = True  # counts as an attempt on the delivery row


@dataclass
class _Job:
    spec: JobSpec
    ticket_id: int
    outcomes: list[tuple[Outcome, datetime]] = field(default_factory=list)


class Ledger:
    """The outcomes of a batch of jobs (distinct job keys), committed together."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        self._reminded: set[int] = set()

    def add(self, spec: JobSpec, ticket_id: int, outcome: Outcome, *, now: datetime) -> None:
        job = self._jobs.setdefault(spec.key, _Job(spec, ticket_id))
        job.outcomes.append((outcome, now))

    def mark_reminded(self, prompt_id: int) -> None:
        self._reminded.add(prompt_id)

    async def commit(self, db: Database) -> None:
        """One transaction; Core statements built once (the ORM's unit of work costs more
        than the writes themselves at this rate)."""
        rows = [_delivery_row(job) for job in self._jobs.values()]
        events = [e for job in self._jobs.values() for e in _event_rows(job)]
        if not rows and not self._reminded:
            return
        async with db.engine.begin() as conn:
            if rows:
                await conn.execute(_upsert(db.dialect), rows)
            await insert_events(conn, events)
            if self._reminded:
                await conn.execute(
                    update(Prompt).where(Prompt.id.in_(self._reminded)).values(reminder_sent=True)
                )
        for job in self._jobs.values():  # committed: each outcome counted once
            for outcome, _ in job.outcomes:
                metrics.delivery_recorded(channel=outcome.channel, status=outcome.status.value)


def _delivery_row(job: _Job) -> dict[str, Any]:
    """The delivery row after all of this job's outcomes, as the upsert's new values."""
    spec, (last, updated_at) = job.spec, job.outcomes[-1]
    row: dict[str, Any] = {
        "job_key": spec.key,
        "ticket_id": job.ticket_id,
        "audience": spec.audience,
        "template": spec.template,
        "status": last.status.value,
        "channel": None,
        "recipient": None,
        "attempts": 0,
        "last_error": None,
        "provider_id": None,
        "created_at": job.outcomes[0][1],
        "updated_at": updated_at,
        "sent_at": None,
    }
    for outcome, at in job.outcomes:
        row["channel"] = outcome.channel or row["channel"]
        row["recipient"] = outcome.recipient or row["recipient"]
        row["attempts"] += 1 if outcome.attempt else 0
        row["last_error"] = outcome.error or row["last_error"]
        row["provider_id"] = outcome.provider_id or row["provider_id"]
        if outcome.status is DeliveryStatus.SENT:
            row["sent_at"] = at
    return row


@cache
def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (job_key) DO UPDATE: an earlier run's row is carried on."""
    table = Delivery.__table__
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    new, old = statement.excluded, table.c
    return statement.on_conflict_do_update(
        index_elements=[old.job_key],
        set_={
            "status": new.status,
            "channel": func.coalesce(new.channel, old.channel),
            "recipient": func.coalesce(new.recipient, old.recipient),
            "attempts": old.attempts + new.attempts,
            "last_error": func.coalesce(new.last_error, old.last_error),
            "provider_id": func.coalesce(new.provider_id, old.provider_id),
            "updated_at": new.updated_at,
            "sent_at": func.coalesce(new.sent_at, old.sent_at),
        },
    )


def _event_rows(job: _Job) -> Iterable[dict[str, Any]]:
    for outcome, at in job.outcomes:
        if outcome.event is None:
            continue
        yield event_row(
            job.ticket_id,
            outcome.event,
            at=at,
            text=outcome.text,
            data=_event_data(job.spec, outcome),
            public=False,  # deliveries are staff-internal
        )


def _event_data(spec: JobSpec, outcome: Outcome) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_key": spec.key,
        "template": spec.template,
        "audience": spec.audience,
        "channel": outcome.channel,
        "recipient": outcome.recipient,
    }
    if outcome.error:
        data["error"] = outcome.error
    if outcome.provider_id:
        data["provider_id"] = outcome.provider_id
    if spec.staff_id:
        data["staff_id"] = spec.staff_id
    return {**data, **(outcome.data or {})}
