"""The tickets of a period as rows for export, masked as the console masks them: phones as
`+86138****5678`, names as `张*`, nothing of an anonymous citizen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.console.views import mask_name
from intake.domain.clock import SHANGHAI
from intake.domain.models import Ticket
from intake.domain.phones import mask_phone
from intake.reports.period import Period

MAX_EXPORT_ROWS = 200_000
TICKET_COLUMNS = [
    "number",
    "created_at",
    "channel",
    "request_type",
    "category",
    "department",
    "district",
    "street",
    "status",
    "title",
    "content",
    "contact_name",
    "contact_phone",
    "due_at",
    "closed_at",
    "repeat_count",
    "supervision",
]


async def ticket_rows(
    session: AsyncSession, *, period: Period, department: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    query = (
        select(Ticket)
        .where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
        .order_by(Ticket.id)
        .limit(MAX_EXPORT_ROWS)
    )
    if department:
        query = query.where(Ticket.department == department)
    async for ticket in await session.stream_scalars(query.execution_options(yield_per=1000)):
        yield _row(ticket)


def _row(ticket: Ticket) -> dict[str, Any]:
    row = {name: getattr(ticket, name) for name in TICKET_COLUMNS}
    for name in ("created_at", "due_at", "closed_at"):
        value = row[name]
        row[name] = value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else None
    anonymous = bool(ticket.anonymous)
    row["contact_name"] = "" if anonymous else mask_name(ticket.contact_name)
    row["contact_phone"] = "" if anonymous else mask_phone(ticket.contact_phone)
    return row
