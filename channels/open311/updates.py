"""FixMyStreet's `servicerequestupdates`: status changes and public replies since a time.

Each update is one public event of a ticket: `update_id` is the event's id, `status` what the
ticket became (FixMyStreet's words: open, in_progress, closed), `description` the public reply
or a short label. Citizens' own words (follow-ups) and internal events never appear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311.formats import Record, w3c
from channels.open311.views import MAX_ROWS, Viewer
from intake.domain.enums import EventKind
from intake.domain.models import Ticket, TicketEvent
from intake.integration.models import Open311Request

UPDATE_STATUS = {
    EventKind.RECEIVED: "open",
    EventKind.ACCEPTED: "open",
    EventKind.DISPATCHED: "in_progress",
    EventKind.EXTENSION_GRANTED: "in_progress",
    EventKind.INFO_REQUESTED: "in_progress",
    EventKind.REPLIED: "in_progress",
    EventKind.REOPENED: "in_progress",
    EventKind.CLOSED: "closed",
}
LABELS = {
    EventKind.RECEIVED: "诉求已提交",
    EventKind.ACCEPTED: "已受理",
    EventKind.DISPATCHED: "已转交承办单位",
    EventKind.EXTENSION_GRANTED: "办理期限已延长",
    EventKind.INFO_REQUESTED: "请补充信息",
    EventKind.REPLIED: "承办单位已答复",
    EventKind.REOPENED: "重新办理",
    EventKind.CLOSED: "已办结",
}
TEXT_SHOWN = frozenset({EventKind.REPLIED, EventKind.CLOSED, EventKind.INFO_REQUESTED})


async def find_updates(
    session: AsyncSession, viewer: Viewer, *, start: datetime, end: datetime
) -> list[Record]:
    query = (
        select(TicketEvent, Ticket.number)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.kind.in_([k.value for k in UPDATE_STATUS]),
            TicketEvent.public.is_(True),
            TicketEvent.created_at >= start,
            TicketEvent.created_at <= end,
        )
        .order_by(TicketEvent.id)
        .limit(MAX_ROWS)
    )
    if viewer.api_key_id is not None:
        query = query.join(Open311Request, Open311Request.number == Ticket.number).where(
            Open311Request.api_key_id == viewer.api_key_id
        )
    rows = (await session.execute(query)).all()
    return [_update(event, number) for event, number in rows]


def _update(event: TicketEvent, number: str) -> Record:
    kind = EventKind(event.kind)
    text = event.text if kind in TEXT_SHOWN and event.text else LABELS[kind]
    return {
        "update_id": str(event.id),
        "service_request_id": number,
        "status": UPDATE_STATUS[kind],
        "updated_datetime": w3c(event.created_at),
        "description": text,
        "media_url": None,
    }
