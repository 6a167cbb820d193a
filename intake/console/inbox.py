"""The inboxes of each role, their counts, and the filters of the ticket lists.

A box is a condition on tickets; the role's scope (a handler sees their department only) is
the one `intake.tickets.actions` applies to the API. Pages are keyset-paginated on the ticket id
(newest first), so a page costs the same on the first and the thousandth screen; the
migration of the console adds the indexes these conditions use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.clock import utcnow
from intake.domain.enums import EventKind, Role, TicketStatus
from intake.domain.errors import InvalidInput
from intake.domain.models import Staff, Ticket, TicketEvent
from intake.domain.phones import normalize_phone
from intake.tickets.actions import _scoped as scoped
from intake.triage.workdays import default_calendar

S = TicketStatus
SHANGHAI = timedelta(hours=8)
PAGE = 50
# what a list row shows (and the deadline colour needs): not the request's full text
LISTED = (
    Ticket.id, Ticket.number, Ticket.title, Ticket.request_type, Ticket.category,
    Ticket.district, Ticket.channel, Ticket.status, Ticket.urgent, Ticket.due_at,
    Ticket.waiting_since,
)


@dataclass(frozen=True)
class Box:
    key: str
    label: str
    where: Callable[[Staff, datetime], list[ColumnElement[bool]]]


def _active() -> ColumnElement[bool]:
    return Ticket.status != S.CLOSED.value


def _due_soon(staff: Staff, now: datetime) -> list[ColumnElement[bool]]:
    soon = default_calendar().add_working_days(now, 1)
    return [_active(), Ticket.waiting_since.is_(None), Ticket.due_at >= now, Ticket.due_at < soon]


def _answered_extensions(staff: Staff, now: datetime) -> list[ColumnElement[bool]]:
    kinds = (EventKind.EXTENSION_GRANTED.value, EventKind.EXTENSION_REJECTED.value)
    recent = select(TicketEvent.ticket_id).where(
        TicketEvent.kind.in_(kinds), TicketEvent.created_at >= now - timedelta(days=7)
    )
    return [_active(), Ticket.id.in_(recent)]


def _needs_human(staff: Staff, now: datetime) -> list[ColumnElement[bool]]:
    """Received tickets whose triage asked for a person (no confident category, a possible
    不予受理, suggested answers to choose from) and that nobody has classified since (改类).
    The category's name says nothing about this: the fallback can be a confident choice, and
    an unsure guess can name a real category."""
    return [Ticket.status == S.RECEIVED.value, Ticket.needs_human]


def _extension_pending() -> ColumnElement[bool]:
    # a JSON column set back to None holds JSON null, not SQL NULL; IS NOT NULL first lets
    # PostgreSQL use the partial index of open requests
    return and_(
        Ticket.extension_pending.is_not(None),
        func.coalesce(cast(Ticket.extension_pending, String), "null") != "null",
    )


BOXES: dict[str, Box] = {
    b.key: b
    for b in (
        Box("received", "待受理", lambda s, n: [Ticket.status == S.RECEIVED.value]),
        Box("unsure", "待人工分类", _needs_human),
        Box("returned", "退单待派", lambda s, n: [Ticket.status == S.RETURNED.value]),
        Box("waiting", "待群众补充", lambda s, n: [Ticket.waiting_since.is_not(None), _active()]),
        Box(
            "todo",
            "待办",
            lambda s, n: [Ticket.status.in_((S.DISPATCHED.value, S.IN_PROGRESS.value))],
        ),
        Box("due_soon", "即将超期", _due_soon),
        Box(
            "overdue",
            "已超期",
            lambda s, n: [_active(), Ticket.waiting_since.is_(None), Ticket.due_at < n],
        ),
        Box("extension_answers", "延期答复", _answered_extensions),
        Box("supervision", "督办", lambda s, n: [Ticket.supervision, _active()]),
        Box("unsatisfied", "不满意重办", lambda s, n: [Ticket.status == S.REOPENED.value]),
        Box("repeats", "重复诉求", lambda s, n: [Ticket.repeat_count > 0, _active()]),
        Box("extensions", "延期审批", lambda s, n: [_extension_pending(), _active()]),
        Box("all", "全部工单", lambda s, n: []),
    )
}

BOXES_OF: dict[Role, tuple[str, ...]] = {
    Role.AGENT: ("received", "unsure", "returned", "waiting", "all"),
    Role.HANDLER: ("todo", "due_soon", "overdue", "extension_answers", "waiting", "all"),
    Role.SUPERVISOR: (
        "supervision", "unsatisfied", "repeats", "overdue", "extensions", "received", "all",
    ),
    Role.ADMIN: ("all", "supervision", "extensions", "overdue", "received"),
}


def boxes_for(staff: Staff) -> tuple[Box, ...]:
    return tuple(BOXES[key] for key in BOXES_OF[Role(staff.role)])


def box_for(staff: Staff, key: str | None) -> Box:
    keys = BOXES_OF[Role(staff.role)]
    if key is None or key == "":
        return BOXES[keys[0]]
    if key not in keys:
        raise InvalidInput(f"no inbox '{key}' for this role", field="box")
    return BOXES[key]


@dataclass(frozen=True)
class Filters:
    """What the list's search form can narrow by; empty fields narrow nothing."""

    number: str = ""
    code: str = ""
    phone: str = ""
    q: str = ""
    category: str = ""
    department: str = ""
    status: str = ""
    date_from: str = ""
    date_to: str = ""

    @classmethod
    def of(cls, params: dict[str, str]) -> Filters:
        return cls(**{f.name: params.get(f.name, "").strip()[:200] for f in fields(cls)})

    def query(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.number:
            out.append(Ticket.number == self.number)
        if self.code:
            out.append(Ticket.query_code == self.code.upper())
        if self.phone:
            out.append(Ticket.contact_phone == normalize_phone(self.phone))
        for word in self.q.split()[:5]:
            like = f"%{_escaped(word)}%"
            out.append(or_(Ticket.title.like(like, "\\"), Ticket.content.like(like, "\\")))
        for value, column in (
            (self.category, Ticket.category),
            (self.department, Ticket.department),
        ):
            if value:
                out.append(column == value)
        if self.status:
            if self.status not in set(S):
                raise InvalidInput(f"unknown status '{self.status}'", field="status")
            out.append(Ticket.status == self.status)
        if self.date_from:
            out.append(Ticket.created_at >= _day_start(self.date_from, "date_from"))
        if self.date_to:
            out.append(Ticket.created_at < _day_start(self.date_to, "date_to") + timedelta(days=1))
        return out


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _day_start(value: str, field: str) -> datetime:
    """Midnight in Shanghai of a `YYYY-MM-DD` day, as UTC."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a date (YYYY-MM-DD): '{value}'", field=field) from None
    return datetime.combine(day, time(), tzinfo=utcnow().tzinfo) - SHANGHAI


def box_query(
    staff: Staff, box: Box, filters: Filters, now: datetime, columns: Any = (Ticket,)
) -> Select[Any]:
    if not isinstance(columns, tuple):
        columns = (columns,)
    return scoped(select(*columns), staff).where(*box.where(staff, now), *filters.conditions())


async def page(
    session: AsyncSession,
    *,
    staff: Staff,
    box: Box,
    filters: Filters,
    now: datetime,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = PAGE,
) -> list[Any]:
    """One page of the box, newest first: before `before_id`, or only what is newer than
    `after_id` (the polling of an open inbox). Rows of the listed columns, not entities: a
    page is read, never changed, and plain rows cost a fraction of loading ORM objects."""
    query = box_query(staff, box, filters, now, LISTED)
    if before_id:
        query = query.where(Ticket.id < before_id)
    if after_id:
        query = query.where(Ticket.id > after_id)
    return list(await session.execute(query.order_by(Ticket.id.desc()).limit(limit)))


COUNT_CAP = 1000  # a menu shows "999+" rather than counting a huge box to the last row


async def counts(session: AsyncSession, *, staff: Staff, now: datetime) -> dict[str, int]:
    """How many tickets each of the role's boxes holds (up to COUNT_CAP), in one round trip."""
    boxes = boxes_for(staff)
    parts = [
        select(func.count())
        .select_from(box_query(staff, box, Filters(), now, Ticket.id).limit(COUNT_CAP).subquery())
        .scalar_subquery()
        for box in boxes
    ]
    row = (await session.execute(select(*parts))).one()
    return {box.key: int(value or 0) for box, value in zip(boxes, row, strict=True)}


async def latest_id(session: AsyncSession, *, staff: Staff, box: Box, now: datetime) -> int:
    query = box_query(staff, box, Filters(), now, func.max(Ticket.id))
    return int(await session.scalar(query) or 0)
