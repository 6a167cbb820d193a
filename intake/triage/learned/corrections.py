"""Staff corrections (`categorize` events) as training rows: the ticket's text with the
category and type it carries now, the last correction having set them."""

from __future__ import annotations

from sqlalchemy import exists, select

from intake.domain.enums import EventKind
from intake.domain.models import Ticket, TicketEvent
from intake.privacy.personal_data import ERASED
from intake.storage.database import Database
from intake.triage.learned.dataset import Row


async def corrected_rows(db: Database, codes: frozenset[str]) -> list[Row]:
    """One row per corrected ticket whose text is still kept and whose category is known."""
    corrected = exists().where(
        TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == EventKind.CATEGORIZED.value
    )
    query = (
        select(Ticket.content, Ticket.category, Ticket.request_type)
        .where(corrected)
        .order_by(Ticket.id)
    )
    async with db.read() as session:
        found = (await session.execute(query)).all()
    return [
        Row(text=content, category=category, request_type=kind or None)
        for content, category, kind in found
        if content and content != ERASED and category in codes
    ]
