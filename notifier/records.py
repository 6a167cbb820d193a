"""The durable record of deliveries: a `deliveries` row per job key and ticket events.

Every attempt and its outcome is a ticket event (staff-internal): NOTIFIED on success,
DELIVERY_FAILED on each failure, and a NOTE carrying `{"task": "callback_by_phone"}` when no
channel could reach a citizen, for an agent to pick up. Each outcome is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.db import Database
from intake.enums import EventKind
from intake.events import add_event
from intake.models import Ticket
from notifier.jobs import JobSpec
from notifier.models import Delivery, DeliveryStatus

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


async def _delivery(
    session: AsyncSession, spec: JobSpec, ticket: Ticket, now: datetime
) -> Delivery:
    row = await session.scalar(select(Delivery).where(Delivery.job_key == spec.key))
    if row is None:
        row = Delivery(
            job_key=spec.key,
            ticket_id=ticket.id,
            audience=spec.audience,
            template=spec.template,
            status=DeliveryStatus.SENDING.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    return row


async def record(
    db: Database, spec: JobSpec, ticket: Ticket, outcome: Outcome, *, now: datetime
) -> None:
    """Write the outcome on the delivery row and, when it calls for one, a ticket event."""
    async with db.write() as session, session.begin():
        row = await _delivery(session, spec, ticket, now)
        row.status = outcome.status.value
        row.channel = outcome.channel or row.channel
        row.recipient = outcome.recipient or row.recipient
        row.attempts += 1 if outcome.attempt else 0
        row.last_error = outcome.error or row.last_error
        row.provider_id = outcome.provider_id or row.provider_id
        row.updated_at = now
        if outcome.status is DeliveryStatus.SENT:
            row.sent_at = now
        if outcome.event is not None:
            attached = await session.merge(ticket, load=False)
            add_event(
                session,
                attached,
                outcome.event,
                at=now,
                public=False,
                text=outcome.text,
                data=_event_data(spec, outcome),
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


async def delivery_status(db: Database, job_key: str) -> DeliveryStatus | None:
    async with db.read() as session:
        status = await session.scalar(select(Delivery.status).where(Delivery.job_key == job_key))
    return DeliveryStatus(status) if status else None
