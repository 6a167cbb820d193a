"""Message-IDs and ticket numbers: how a reply finds its ticket.

Every mail we send carries the ticket in its Message-ID (`<ticket-NUMBER.RANDOM@domain>`), so a
reply's In-Reply-To/References leads back to the ticket even when the citizen rewrites the subject.
The subject tag `[NUMBER]` is the weaker fallback. A ticket number is YYYYMMDD followed by a
sequence of at least five digits; the date part is checked so that a phone number or an order
number in brackets is not mistaken for a ticket.
"""

from __future__ import annotations

import re
import secrets

_TICKET = r"\d{13,20}"
_SUBJECT_TAG = re.compile(r"[\[【［]\s*#?\s*(" + _TICKET + r")\s*[\]】］]")
_OUR_ID = re.compile(r"^ticket-(" + _TICKET + r")\.[A-Za-z0-9_-]+@(.+)$")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")


def is_ticket_number(value: str) -> bool:
    """True when `value` looks like one of our ticket numbers (plausible date + sequence)."""
    if not re.fullmatch(_TICKET, value):
        return False
    month, day = int(value[4:6]), int(value[6:8])
    return 2000 <= int(value[:4]) <= 2199 and 1 <= month <= 12 and 1 <= day <= 31


def make_message_id(ticket_number: str | None, domain: str) -> str:
    """A fresh Message-ID, with the ticket in it when there is one (RFC 5322 §3.6.4)."""
    token = secrets.token_hex(8)
    if ticket_number:
        return f"<ticket-{ticket_number}.{token}@{domain}>"
    return f"<intake.{token}@{domain}>"


def strip_message_id(value: str | None) -> str:
    """The bare id: no angle brackets, no surrounding space or comments; kept case-exact."""
    if not value:
        return ""
    found = _ANGLE_ID.search(value)
    if found:
        return found.group(1)
    return value.strip().strip("<>").strip()


def parse_id_list(value: str | None) -> list[str]:
    """All ids of an In-Reply-To/References header, in order, without duplicates."""
    if not value:
        return []
    ids = _ANGLE_ID.findall(value)
    if not ids:  # some clients omit the brackets
        ids = [token.strip("<>,;") for token in value.split() if "@" in token]
    seen: dict[str, None] = {}
    for mid in ids:
        if mid:
            seen.setdefault(mid, None)
    return list(seen)


def ticket_from_message_id(mid: str | None, domain: str) -> str | None:
    """The ticket number of one of *our* Message-IDs, or None (foreign ids never match)."""
    found = _OUR_ID.match(strip_message_id(mid))
    if not found or found.group(2).lower() != domain.lower():
        return None
    number = found.group(1)
    return number if is_ticket_number(number) else None


def ticket_from_references(ids: list[str], domain: str) -> str | None:
    """The ticket of the most recent of our ids (References lists the oldest first)."""
    for mid in reversed(ids):
        number = ticket_from_message_id(mid, domain)
        if number:
            return number
    return None


def ticket_from_subject(subject: str | None) -> str | None:
    """The first `[NUMBER]` (also 【NUMBER】 or [#NUMBER]) tag of a subject that is a ticket."""
    for found in _SUBJECT_TAG.finditer(subject or ""):
        if is_ticket_number(found.group(1)):
            return found.group(1)
    return None


def is_our_message_id(mid: str | None, domain: str) -> bool:
    """True for any id we generated (with or without a ticket)."""
    bare = strip_message_id(mid)
    local, _, host = bare.rpartition("@")
    return host.lower() == domain.lower() and local.startswith(("ticket-", "intake."))
