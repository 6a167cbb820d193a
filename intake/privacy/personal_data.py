"""What of a ticket is personal, and how it is removed while the facts stay.

Shared by the retention purge (`intake.privacy.retention`) and erasure on request
(`intake.privacy.erasure`).
A ticket keeps its facts for statistics — number, channel, type, category, departments,
district and street, status, times, deadlines, rating — and loses what a citizen wrote or who
they are. Event data keeps only the keys listed in `FACT_KEYS`: a new key is personal until
someone adds it there.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import JSON, column, delete, or_, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.models import AttachmentRecord, Ticket, TicketEvent
from intake.ingest.attachments import AttachmentStore

log = logging.getLogger(__name__)

ERASED = "[已删除]"

FACT_KEYS = frozenset(
    {
        "from",
        "to",
        "channel",
        "status",
        "rating",
        "rating_zh",
        "solved",
        "dimensions",
        "prompt_id",
        "prompt_kind",
        "rule_id",
        "score",
        "repeat_count",
        "supervision",
        "supervise_after",
        "attached",
        "new_ticket",
        "kb_entry",
        "department",
        "co_departments",
        "category",
        "request_type",
        "district",
        "street",
        "suggested_department",
        "needs_human",
        "emergency",
        "urgent",
        "immediate_reply",
        "at_intake",
        "days",
        "due_at",
        "due_before",
        "waiting_since",
        "paused_working_days",
        "closed_at",
        "skipped",
        "retry_in",
        "unconfirmed",
        "task",
        "reason",  # kept only as a code ("bounce", "unsatisfied_rating"), see `facts_of`
    }
)
_CODE = re.compile(r"^[a-z][a-z0-9_:-]{0,63}$")
# a prompt's answer: the rating and the dimensions stay, the citizen's reason goes
_ANSWER_FACTS = frozenset({"rating", "solved", "dimensions", "channel"})


def facts_of(data: dict[str, Any] | None, keys: frozenset[str] = FACT_KEYS) -> dict[str, Any]:
    """The keys of event data (or a prompt answer) that are facts; free text is dropped."""
    kept = {}
    for key, value in (data or {}).items():
        if key not in keys:
            continue
        if key == "reason" and not (isinstance(value, str) and _CODE.match(value)):
            continue
        kept[key] = value
    return kept


def answer_facts(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if answer is None else facts_of(answer, _ANSWER_FACTS)


def erase_ticket_text(ticket: Ticket) -> None:
    """The ticket's own free text and contact: replaced by the marker or emptied."""
    ticket.title = ERASED
    ticket.content = ERASED
    ticket.address = None
    ticket.latitude = None
    ticket.longitude = None
    ticket.contact_phone = None
    ticket.contact_name = None
    if ticket.extension_pending:
        ticket.extension_pending = facts_of(ticket.extension_pending)


async def erase_event_text(session: AsyncSession, ticket_ids: Collection[int]) -> int:
    """Events' texts become the marker; their data keeps its facts. Returns events changed."""
    changed = 0
    for chunk in _chunks(list(ticket_ids)):
        events = await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(chunk)))
        for event in events:
            text = ERASED if event.text else event.text
            data = facts_of(event.data)
            if text != event.text or data != (event.data or {}):
                event.text, event.data = text, data
                changed += 1
    return changed


async def remove_attachments(
    session: AsyncSession, store: AttachmentStore, ticket_ids: Collection[int]
) -> tuple[int, int]:
    """Delete the tickets' attachment rows, then the files no other row refers to.

    Files go before the caller commits: if the commit fails the rows stay and the next run
    deletes them again (a missing file is no error), while the other order could leave files
    that no row names any more. Returns (rows, files).
    """
    rows = files = 0
    for chunk in _chunks(list(ticket_ids)):
        keys = set(
            await session.scalars(
                select(AttachmentRecord.storage_key).where(
                    AttachmentRecord.ticket_id.in_(chunk),
                    AttachmentRecord.storage_key.is_not(None),
                )
            )
        )
        result = await session.execute(
            delete(AttachmentRecord).where(AttachmentRecord.ticket_id.in_(chunk))
        )
        rows += int(result.rowcount or 0)  # type: ignore[attr-defined]
        if not keys:
            continue
        still_used = set(
            await session.scalars(
                select(AttachmentRecord.storage_key)
                .where(AttachmentRecord.storage_key.in_(keys))
                .distinct()
            )
        )
        for key in sorted(keys - still_used):
            files += await asyncio.to_thread(store.delete, key)
    return rows, files


# The notifier's tables, named here without importing the notifier (the core must not):
# only the columns that hold personal data and the keys to find them.
_DELIVERIES = table(
    "deliveries",
    column("id"),
    column("ticket_id"),
    column("recipient"),
    column("last_error"),
    column("report_detail"),
)
_PROMPTS = table("prompts", column("id"), column("ticket_id"), column("answer", JSON))


async def scrub_deliveries(session: AsyncSession, ticket_ids: Collection[int]) -> int:
    """Delivery logs keep channel, template and outcome; recipient and provider texts go."""
    changed = 0
    for chunk in _chunks(list(ticket_ids)):
        result = await session.execute(
            update(_DELIVERIES)
            .where(
                _DELIVERIES.c.ticket_id.in_(chunk),
                or_(
                    _DELIVERIES.c.recipient.is_not(None),
                    _DELIVERIES.c.last_error.is_not(None),
                    _DELIVERIES.c.report_detail.is_not(None),
                ),
            )
            .values(recipient=None, last_error=None, report_detail=None)
        )
        changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return changed


async def scrub_prompt_answers(session: AsyncSession, ticket_ids: Collection[int]) -> int:
    """Survey answers keep the rating and the dimensions; the citizen's reason goes."""
    changed = 0
    for chunk in _chunks(list(ticket_ids)):
        rows = await session.execute(
            select(_PROMPTS.c.id, _PROMPTS.c.answer).where(_PROMPTS.c.ticket_id.in_(chunk))
        )
        for prompt_id, answer in rows:
            kept = answer_facts(answer)
            if kept != answer:
                await session.execute(
                    update(_PROMPTS).where(_PROMPTS.c.id == prompt_id).values(answer=kept)
                )
                changed += 1
    return changed


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
