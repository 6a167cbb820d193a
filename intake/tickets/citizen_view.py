"""A citizen's view of their own ticket: status and public timeline, nothing internal.

The same `NotFound` answers a wrong number and a wrong phone or code, so that the lookup
cannot be used to learn which numbers exist. A ticket acknowledged but not yet written by
the pipeline is found through its pending record in Redis.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.catalog import Catalog
from intake.domain.enums import PUBLIC_EVENTS, EventKind, RequestType, Resolution, TicketStatus
from intake.domain.errors import InvalidInput, NotFound
from intake.domain.models import Ticket
from intake.domain.phones import normalize_phone
from intake.ingest.gateway import Gateway
from intake.interfaces import PromptAnswers
from intake.ratelimit.attempts import Limiter
from intake.storage.database import Database


class TicketParts(Protocol):
    """What a citizen's lookup, answer and rating read: the runtime has them, and so do the
    parts the web channel is given."""

    @property
    def db(self) -> Database: ...

    @property
    def gateway(self) -> Gateway: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def limiter(self) -> Limiter: ...

    @property
    def answers(self) -> PromptAnswers | None: ...


_EVENT_ZH = {
    EventKind.RECEIVED: "诉求已提交",
    EventKind.FOLLOW_UP: "补充了诉求内容",
    EventKind.ACCEPTED: "已受理",
    EventKind.DISPATCHED: "已转交承办单位",
    EventKind.REPLIED: "承办单位已答复",
    EventKind.CLOSED: "已办结",
    EventKind.REOPENED: "重新办理",
    EventKind.EXTENSION_GRANTED: "办理期限已延长",
    EventKind.RATED: "已评价",
    EventKind.INFO_REQUESTED: "请您补充信息（办理时限暂停）",
}
_TEXT_SHOWN = frozenset(
    {EventKind.REPLIED, EventKind.CLOSED, EventKind.FOLLOW_UP, EventKind.INFO_REQUESTED}
)


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str
    label: str
    text: str | None = None


@dataclass(frozen=True)
class PublicStatus:
    number: str
    status: str
    status_label: str
    request_type: str | None
    title: str | None
    created_at: datetime
    department: str | None = None
    due_at: datetime | None = None
    timeline: list[TimelineItem] = field(default_factory=list)
    waiting: bool = False  # staff asked the citizen a question: the page offers a reply box
    rateable: bool = False  # closed (not 不予受理) and not rated since: the page offers rating
    rating: str | None = None  # the citizen's rating of the latest closing


def _matches(
    *, ticket_phone: str | None, ticket_code: str | None, phone: str | None, code: str | None
) -> bool:
    if code and ticket_code:
        return _same(code.strip().upper(), ticket_code)
    if phone and ticket_phone:
        try:
            return _same(normalize_phone(phone), ticket_phone)
        except (InvalidInput, ValueError):  # the same answer as a wrong phone
            return False
    return False


def _same(given: str, expected: str) -> bool:
    """Constant time on UTF-8 bytes: `compare_digest` raises on a non-ASCII str, and an error
    only for numbers that exist would tell which ones do."""
    return hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )


async def public_status(
    runtime: TicketParts, *, number: str, phone: str | None, code: str | None
) -> PublicStatus:
    async with runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == number).options(selectinload(Ticket.events))
        )
    if ticket is not None:
        if not _matches(
            ticket_phone=ticket.contact_phone, ticket_code=ticket.query_code, phone=phone, code=code
        ):
            raise NotFound("no such request")
        return _from_ticket(ticket, runtime)
    pending = await runtime.gateway.pending_ticket(number)
    if pending and _matches(
        ticket_phone=pending.get("contact"), ticket_code=pending.get("code"), phone=phone, code=code
    ):
        at = datetime.fromisoformat(pending["at"])
        return PublicStatus(
            number=number,
            status=TicketStatus.RECEIVED.value,
            status_label=TicketStatus.RECEIVED.label_zh,
            request_type=None,
            title=None,
            created_at=at,
            timeline=[TimelineItem(at=at, kind=EventKind.RECEIVED.value, label="诉求已提交")],
        )
    raise NotFound("no such request")


def _status_label(ticket: Ticket) -> str:
    """The status as the citizen reads it: a closed ticket says how it ended (不予受理 is not
    办结: the citizen must go elsewhere)."""
    status = TicketStatus(ticket.status)
    if status is TicketStatus.CLOSED:
        closes = [e for e in ticket.events if e.kind == EventKind.CLOSED.value]
        ending = (closes[-1].data or {}).get("resolution") if closes else None
        if ending == Resolution.DECLINED.value:
            return Resolution.DECLINED.label_zh
    return status.label_zh


def _from_ticket(ticket: Ticket, runtime: TicketParts) -> PublicStatus:
    status = TicketStatus(ticket.status)
    rating, declined = _latest_rating(ticket)
    department = runtime.catalog.departments.get(ticket.department or "")
    timeline = [
        TimelineItem(
            at=e.created_at,
            kind=e.kind,
            label=_EVENT_ZH[EventKind(e.kind)],
            text=e.text if EventKind(e.kind) in _TEXT_SHOWN else None,
        )
        for e in ticket.events
        if e.public and EventKind(e.kind) in PUBLIC_EVENTS
    ]
    return PublicStatus(
        number=ticket.number,
        status=status.value,
        status_label=_status_label(ticket),
        request_type=RequestType(ticket.request_type).label_zh,
        title=ticket.title,
        created_at=ticket.created_at,
        department=department.name if department else None,
        due_at=ticket.due_at,
        timeline=timeline,
        waiting=ticket.waiting_since is not None and status is not TicketStatus.CLOSED,
        rateable=status is TicketStatus.CLOSED and rating is None and not declined,
        rating=rating,
    )


def _latest_rating(ticket: Ticket) -> tuple[str | None, bool]:
    """(the survey rating given since the latest closing, whether that closing was 不予受理)."""
    rating, declined = None, False
    for event in ticket.events:
        data = event.data or {}
        if event.kind == EventKind.CLOSED.value:
            rating, declined = None, data.get("resolution") == Resolution.DECLINED.value
        elif event.kind == EventKind.RATED.value and data.get("prompt_kind") == "survey":
            rating = data.get("rating")
    return rating, declined
