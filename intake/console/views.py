"""What a staff member may see of a ticket: deadline colours, masked contacts, hidden ones.

Contacts are masked by default; an audited reveal shows them in full to the one who asked. An
anonymous citizen's name and phone never reach a department handler, masked or not, and a
handler cannot reveal them: only the hotline (agents, supervisors, admins) can, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake.domain.enums import Role, TicketStatus
from intake.domain.models import Staff, Ticket
from intake.domain.phones import mask_phone
from intake.triage.workdays import deadline_colour

HIDDEN = "（匿名，承办单位不可见）"


def deadline(ticket: Ticket, now: datetime) -> str | None:
    """green / yellow / red, or paused while the citizen is asked; None without a limit."""
    if ticket.status == TicketStatus.CLOSED.value or ticket.due_at is None:
        return None
    if ticket.waiting_since is not None:
        return "paused"
    return deadline_colour(now, ticket.due_at)


def hides_contact(ticket: Ticket, staff: Staff) -> bool:
    return bool(ticket.anonymous) and Role(staff.role) is Role.HANDLER


def may_reveal(ticket: Ticket, staff: Staff) -> bool:
    return not hides_contact(ticket, staff) and bool(ticket.contact_phone or ticket.contact_name)


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    hidden: bool
    revealed: bool


def contact(ticket: Ticket, staff: Staff, *, revealed: bool) -> Contact:
    if hides_contact(ticket, staff):
        return Contact(name=HIDDEN, phone=HIDDEN, hidden=True, revealed=False)
    if revealed:
        return Contact(ticket.contact_name or "", ticket.contact_phone or "", False, True)
    return Contact(mask_name(ticket.contact_name), mask_phone(ticket.contact_phone), False, False)
