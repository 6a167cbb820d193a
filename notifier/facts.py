"""What a delivery reads of its ticket and of the citizen's identities: plain rows.

A batch loads these with Core queries: building session-bound ORM objects for every ticket of
every batch cost more than the queries themselves. The fields are the tables' column names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from intake.domain.models import CitizenIdentity, Ticket


@dataclass(frozen=True, slots=True)
class TicketFacts:
    id: int
    number: str
    query_code: str
    citizen_id: int
    channel: str
    status: str
    urgent: bool
    title: str
    request_type: str
    department: str | None
    due_at: datetime | None
    contact_phone: str | None
    contact_name: str | None


@dataclass(frozen=True, slots=True)
class IdentityFacts:
    id: int
    citizen_id: int
    kind: str
    value: str
    account: str
    opted_out_at: datetime | None
    unsubscribed_at: datetime | None


@dataclass(frozen=True, slots=True)
class MailThread:
    """The citizen's latest mail on a ticket: what our mail answers, so that it threads under
    theirs in their client (RFC 5322 §3.6.4) rather than starting a conversation of its own."""

    message_id: str
    references: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        """The threading params the e-mail sender reads (`channels.email.compose`)."""
        return {"in_reply_to": self.message_id, "references": list(self.references)}


def columns(facts: type[Any], model: type[Any]) -> list[Any]:
    """The model's columns named like the fields of `facts`, in field order."""
    return [getattr(model, f.name) for f in fields(facts)]


TICKET_COLUMNS = columns(TicketFacts, Ticket)
IDENTITY_COLUMNS = columns(IdentityFacts, CitizenIdentity)
