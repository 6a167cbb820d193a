"""Writing ticket events: the audit trail and, through `published`, the outbox.

Every event is written here: `add_event` in a session (the pipeline, staff actions, answers),
`insert_events` for many rows in one statement (the notifier's delivery ledger). Both take
their columns from `_values`, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from intake.domain.enums import PUBLIC_EVENTS, EventKind
from intake.domain.models import Message, Staff, Ticket, TicketEvent
from intake.domain.new_rows import add, build


def add_event(
    session: AsyncSession,
    ticket: Ticket,
    kind: EventKind,
    *,
    at: datetime,
    actor: Staff | None = None,
    actor_kind: str | None = None,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    message: Message | None = None,
    public: bool | None = None,
) -> TicketEvent:
    """Append an event to the ticket (the caller's transaction commits it with the change)."""
    values = _values(
        kind, at=at, actor=actor, actor_kind=actor_kind, text=text, data=data, public=public
    )
    values.update(ticket=ticket, message=message)
    # a loaded `ticket.events` must show the new event: the constructor's backref appends it
    if "events" in ticket.__dict__:
        event = TicketEvent(**values)
        session.add(event)
    else:
        event = build(TicketEvent, **values)
        add(session, event)
    return event


def event_row(
    ticket_id: int,
    kind: EventKind,
    *,
    at: datetime,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    public: bool | None = None,
) -> dict[str, Any]:
    """A system event as a row for `insert_events`."""
    row = _values(kind, at=at, text=text, data=data, public=public)
    row.update(ticket_id=ticket_id, message_id=None)
    return row


_INSERT = insert(TicketEvent.__table__)


async def insert_events(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Many events in one statement (executemany), in the connection's transaction."""
    if rows:
        await connection.execute(_INSERT, list(rows))


def _values(
    kind: EventKind,
    *,
    at: datetime,
    actor: Staff | None = None,
    actor_kind: str | None = None,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    public: bool | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "actor_kind": actor_kind or ("staff" if actor else "system"),
        "actor_id": actor.id if actor else None,
        "actor_name": actor.name if actor else None,
        "public": kind in PUBLIC_EVENTS if public is None else public,
        "text": text,
        "data": data or {},
        "created_at": at,
        "published": False,
    }
