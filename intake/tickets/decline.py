"""不予受理 by staff: what the citizen is told when a ticket is closed as out of scope.

Triage closes a ticket by itself only when the out-of-scope matter is plainly the main
request; when unsure it records an `out_of_scope_suggestion` on the `triaged` event for the
agent. The `decline` action takes its reason and the place to go from the body, or else from
that suggestion. Following the suggestion, the citizen gets the rule's own polite reply from
the out-of-scope data (the words an automatic close sends, which name where to go); with a
place the agent names, the `decline_reason` text of the catalogue (`intake/texts/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import EventKind
from intake.domain.errors import InvalidInput
from intake.domain.models import Ticket, TicketEvent
from intake.ingest.replies import Replies


@dataclass(frozen=True, slots=True)
class Declining:
    text: str  # the reply the citizen gets
    reason: str
    refer_to: str | None
    rule_id: str | None  # the out-of-scope rule followed, if any

    def data(self) -> dict[str, Any]:
        return {"reason": self.reason, "refer_to": self.refer_to, "out_of_scope": self.rule_id}


async def suggestion_of(session: AsyncSession, ticket: Ticket) -> dict[str, Any] | None:
    """Triage's latest out-of-scope suggestion for the ticket, if it made one."""
    data = await session.scalar(
        select(TicketEvent.data)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.TRIAGED.value)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    suggestion = (data or {}).get("out_of_scope_suggestion")
    return suggestion if isinstance(suggestion, dict) and suggestion.get("reply") else None


def compose(
    *,
    reason: str | None,
    refer_to: str | None,
    suggestion: dict[str, Any] | None,
    replies_file: Path | None = None,
) -> Declining:
    """The reply and the facts recorded; `InvalidInput` (422) when neither the body nor a
    suggestion says why and where to."""
    rule_id = str(suggestion["rule_id"]) if suggestion and suggestion.get("rule_id") else None
    reason = reason or (str(suggestion.get("name") or "") if suggestion else "") or None
    if reason is None:
        raise InvalidInput(
            "say why the hotline does not take it (reason); triage suggested nothing",
            field="reason",
        )
    if refer_to:
        text = _replies(replies_file).text("decline_reason", reason=reason, refer_to=refer_to)
        return Declining(text, reason, refer_to, rule_id)
    if suggestion is None:
        raise InvalidInput(
            "say where the citizen should go (refer_to); triage suggested nothing",
            field="refer_to",
        )
    return Declining(str(suggestion["reply"]), reason, None, rule_id)


@lru_cache(maxsize=8)
def _replies(path: Path | None) -> Replies:
    return Replies.load(path)
