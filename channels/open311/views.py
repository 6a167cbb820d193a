"""What a GET shows: a partner's own requests in full, anyone else only the redacted view.

The partner's view is what it sent and what became of it. The public view (when the operator
publishes one) carries the category, the status, the district and street, a location rounded
to about a kilometre and the public replies: no description, no names, phones or addresses,
and nothing of where an anonymous citizen was.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311.formats import Record, w3c
from channels.open311.services import Service
from intake.catalog import Catalog
from intake.domain.enums import EventKind, TicketStatus
from intake.domain.models import Ticket, TicketEvent
from intake.integration.models import Open311Request

MAX_ROWS = 1000
COARSE_DIGITS = 2  # about a kilometre
NOTE_EVENTS = (EventKind.REPLIED.value, EventKind.CLOSED.value)


@dataclass(frozen=True, slots=True)
class Filters:
    ids: tuple[str, ...] = ()
    service_code: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()  # open | closed


@dataclass(frozen=True, slots=True)
class Viewer:
    api_key_id: int | None  # None: the public view
    partner: str | None = None  # the key's name: its own service codes filter too


async def find(
    session: AsyncSession, viewer: Viewer, filters: Filters
) -> list[tuple[Ticket | None, Open311Request | None]]:
    """At most `MAX_ROWS` requests the viewer may see, newest first."""
    query: Select[tuple[Ticket | None, Open311Request | None]]
    if viewer.api_key_id is not None:
        query = (
            select(Ticket, Open311Request)
            .select_from(Open311Request)
            .outerjoin(Ticket, Ticket.number == Open311Request.number)
            .where(Open311Request.api_key_id == viewer.api_key_id)
        )
        requested = Open311Request.created_at
    else:
        query = select(Ticket, Open311Request).outerjoin(
            Open311Request, Open311Request.number == Ticket.number
        )
        requested = Ticket.created_at
    if filters.ids:
        query = query.where(
            (Open311Request.number if viewer.api_key_id else Ticket.number).in_(filters.ids)
        )
    else:
        query = _filtered(query, filters, requested)
    rows = (await session.execute(query.order_by(requested.desc()).limit(MAX_ROWS))).all()
    return [(ticket, row) for ticket, row in rows]


def _filtered(query: Select, filters: Filters, requested: object) -> Select:  # type: ignore[type-arg]
    if filters.start is not None:
        query = query.where(requested >= filters.start)  # type: ignore[operator]
    if filters.end is not None:
        query = query.where(requested <= filters.end)  # type: ignore[operator]
    if filters.service_code:
        query = query.where(
            (Open311Request.service_code.in_(filters.service_code))
            | and_(Open311Request.number.is_(None), Ticket.category.in_(filters.service_code))
        )
    if set(filters.statuses) == {"closed"}:
        query = query.where(Ticket.status == TicketStatus.CLOSED.value)
    elif set(filters.statuses) == {"open"}:
        query = query.where((Ticket.status != TicketStatus.CLOSED.value) | Ticket.number.is_(None))
    return query


async def public_notes(session: AsyncSession, tickets: list[Ticket]) -> dict[int, str]:
    """The latest public reply of each ticket (the status notes)."""
    ids = [t.id for t in tickets]
    if not ids:
        return {}
    events = await session.scalars(
        select(TicketEvent)
        .where(
            TicketEvent.ticket_id.in_(ids),
            TicketEvent.kind.in_(NOTE_EVENTS),
            TicketEvent.public.is_(True),
            TicketEvent.text.is_not(None),
        )
        .order_by(TicketEvent.id)
    )
    notes: dict[int, str] = defaultdict(str)
    for event in events:
        notes[event.ticket_id] = event.text or ""
    return notes


def record(
    ticket: Ticket | None,
    row: Open311Request | None,
    *,
    services: dict[str, Service],
    catalog: Catalog,
    note: str | None,
    full: bool,
) -> Record:
    """One `request` of GET requests: in full for its partner, redacted otherwise."""
    code = row.service_code if row else (ticket.category if ticket else None) or "other"
    service = services.get(code)
    closed = ticket is not None and ticket.status == TicketStatus.CLOSED.value
    department = catalog.departments.get(ticket.department or "") if ticket else None
    number = row.number if row else ticket.number if ticket else ""
    requested = row.created_at if row else ticket.created_at if ticket else None
    base: Record = {
        "service_request_id": number,
        "status": "closed" if closed else "open",
        "status_notes": note or None,
        "service_name": service.name if service else code,
        "service_code": code,
        "description": None,
        "agency_responsible": department.name if department else None,
        "service_notice": None,
        "requested_datetime": w3c(requested),
        "updated_datetime": w3c(ticket.updated_at if ticket else requested),
        "expected_datetime": w3c(ticket.due_at if ticket else None),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": row.media_url if (row and full) else None,
    }
    if ticket is None:
        return base
    if full:
        base.update(
            description=ticket.content,
            address=ticket.address,
            lat=ticket.latitude,
            long=ticket.longitude,
        )
    elif not ticket.anonymous:
        base.update(
            address=" ".join(p for p in (ticket.district, ticket.street) if p) or None,
            lat=_coarse(ticket.latitude),
            long=_coarse(ticket.longitude),
        )
    return base


def _coarse(value: float | None) -> float | None:
    return None if value is None else round(value, COARSE_DIGITS)
