"""Writing ticket events: the audit trail and, through `published`, the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake.enums import PUBLIC_EVENTS, EventKind
from intake.fast_rows import add, build
from intake.models import Message, Staff, Ticket, TicketEvent


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
    values: dict[str, Any] = {
        "kind": kind.value,
        "actor_kind": actor_kind or ("staff" if actor else "system"),
        "actor_id": actor.id if actor else None,
        "actor_name": actor.name if actor else None,
        "public": kind in PUBLIC_EVENTS if public is None else public,
        "text": text,
        "data": data or {},
        "created_at": at,
        "published": False,
        "ticket": ticket,
        "message": message,
    }
    # a loaded `ticket.events` must show the new event: the constructor's backref appends it
    if "events" in ticket.__dict__:
        event = TicketEvent(**values)
        session.add(event)
    else:
        event = build(TicketEvent, **values)
        add(session, event)
    return event
