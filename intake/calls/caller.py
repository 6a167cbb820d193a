"""来电弹屏: the caller's open and recent tickets, found as the number is typed, so that a
repeat caller's call is added to their ticket instead of filed twice.

A caller's tickets are those of the citizen behind the number (the identity every phone
channel joins on) and those that give it as their contact phone. Linking to one is a
follow-up through the pipeline (`intake.pipeline.intent`); a closed ticket can take one only
within the closed-reply window, after which a call about it is a new request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import TicketStatus
from intake.domain.messages import IdentityKind
from intake.domain.models import CitizenIdentity, Staff, Ticket
from intake.tickets.actions import _scoped as scoped

RECENT_DAYS = 30  # closed tickets shown (to tell the caller what was answered)
SHOWN = 10


@dataclass(frozen=True)
class CallerTicket:
    ticket: Ticket
    linkable: bool  # a call can be added to it (open, or closed within the window)


def _closed_at(ticket: Ticket) -> datetime:
    return ticket.closed_at or ticket.updated_at


def linkable(ticket: Ticket, *, now: datetime, window_days: int) -> bool:
    if ticket.status != TicketStatus.CLOSED.value:
        return True
    return now - _closed_at(ticket) <= timedelta(days=window_days)


def _of_caller(phone: str) -> ColumnElement[bool]:
    """Tickets of the number's citizen or with it as contact. The citizen is compared with
    `=` to a one-row sub-select, which PostgreSQL evaluates once and then combines the two
    indexes; `IN (sub-select)` inside the OR would filter every ticket instead."""
    citizen = select(CitizenIdentity.citizen_id).where(
        CitizenIdentity.kind == IdentityKind.PHONE.value,
        CitizenIdentity.account == "",
        CitizenIdentity.value == phone,
    )
    return or_(Ticket.contact_phone == phone, Ticket.citizen_id == citizen.scalar_subquery())


async def caller_tickets(
    session: AsyncSession, *, phone: str, staff: Staff, now: datetime, window_days: int
) -> list[CallerTicket]:
    """Open tickets and those closed in the last `RECENT_DAYS`, newest first."""
    recent = now - timedelta(days=RECENT_DAYS)
    query = (
        scoped(select(Ticket), staff)
        .where(
            _of_caller(phone),
            or_(Ticket.status != TicketStatus.CLOSED.value, Ticket.updated_at >= recent),
        )
        .order_by(Ticket.id.desc())
        .limit(SHOWN)
    )
    found = list(await session.scalars(query))
    return [CallerTicket(t, linkable(t, now=now, window_days=window_days)) for t in found]


async def callers_ticket(session: AsyncSession, *, phone: str, number: str) -> Ticket | None:
    """The ticket `number` if it is the caller's (by the citizen or the contact phone)."""
    query = select(Ticket).where(Ticket.number == number, _of_caller(phone))
    return await session.scalar(query)
