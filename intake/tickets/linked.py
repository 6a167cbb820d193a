"""One department visit answers all: a master ticket's reply and closure reach its linked tickets.

Tickets of different citizens reporting the same problem are linked to one master by the
pipeline (`intake.pipeline.repeats`). When staff reply to or close the master, each open
linked ticket takes the master's new status and department and gets its own `replied` /
`closed` event with the same text, in the same transaction; the notifier reacts to those
events per ticket, so every citizen is told and every one is surveyed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import TERMINAL_STATUSES
from intake.domain.events import add_event
from intake.domain.lifecycle import EVENT_OF, Action
from intake.domain.models import Staff, Ticket, TicketEvent

PASSED_ON = frozenset({Action.REPLY, Action.CLOSE})
_CLOSED = tuple(s.value for s in TERMINAL_STATUSES)


async def pass_on(
    session: AsyncSession,
    master: Ticket,
    *,
    action: Action,
    text: str | None,
    staff: Staff,
    now: datetime,
) -> list[TicketEvent]:
    """Give the master's reply or closure to its open linked tickets; returns their events."""
    if action not in PASSED_ON or master.master_ticket_id is not None:
        return []
    query = select(Ticket).where(
        Ticket.master_ticket_id == master.id, Ticket.status.not_in(_CLOSED)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    events = []
    for ticket in await session.scalars(query.order_by(Ticket.id)):
        before = ticket.status
        ticket.status, ticket.updated_at = master.status, now
        ticket.department, ticket.co_departments = master.department, list(master.co_departments)
        if action is Action.CLOSE:
            ticket.closed_at = now
        data = {"from": before, "to": ticket.status, "master_ticket": master.number}
        events.append(
            add_event(session, ticket, EVENT_OF[action], at=now, actor=staff, text=text, data=data)
        )
    return events
