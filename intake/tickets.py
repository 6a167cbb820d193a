"""Staff work on tickets: listing within one's reach, reading, and the lifecycle actions.

Each action checks role, department and the state machine, changes the ticket, and writes a
ticket event in the same transaction (the event is also the domain event's outbox row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from intake.catalog import Catalog
from intake.clock import Clock
from intake.enums import Role, TicketStatus
from intake.errors import InvalidInput, NotFound
from intake.events import add_event
from intake.lifecycle import EVENT_OF, Action, check_role, next_status
from intake.linked import pass_on
from intake.models import Staff, Ticket
from intake.triage.workdays import add_working_days


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    department: str | None = None
    request_type: str | None = None
    channel: str | None = None
    urgent: bool | None = None
    overdue: bool | None = None
    search: str | None = None
    before_id: int | None = None
    limit: int = 50


def _scoped(query: Select[Any], staff: Staff) -> Select[Any]:
    """Department staff see their department's tickets only (need-to-know)."""
    if Role(staff.role) is Role.HANDLER:
        return query.where(Ticket.department == staff.department)
    return query


async def list_tickets(
    session: AsyncSession, *, staff: Staff, filters: TicketFilter, now: datetime
) -> list[Ticket]:
    query = _scoped(select(Ticket), staff)
    for column, value in (
        (Ticket.status, filters.status),
        (Ticket.department, filters.department),
        (Ticket.request_type, filters.request_type),
        (Ticket.channel, filters.channel),
        (Ticket.urgent, filters.urgent),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.overdue:
        query = query.where(Ticket.due_at < now, Ticket.status != TicketStatus.CLOSED.value)
    if filters.search:
        like = f"%{filters.search}%"
        query = query.where(
            or_(Ticket.title.like(like), Ticket.content.like(like), Ticket.number == filters.search)
        )
    if filters.before_id:
        query = query.where(Ticket.id < filters.before_id)
    query = query.order_by(Ticket.id.desc()).limit(min(max(filters.limit, 1), 200))
    return list(await session.scalars(query))


async def get_ticket(session: AsyncSession, *, number: str, staff: Staff | None) -> Ticket:
    """One ticket with events; `staff=None` skips the scope (right after a permitted action)."""
    base = select(Ticket) if staff is None else _scoped(select(Ticket), staff)
    query = base.where(Ticket.number == number).options(
        selectinload(Ticket.events), selectinload(Ticket.attachments)
    )
    ticket = await session.scalar(query)
    if ticket is None:
        raise NotFound(f"no ticket {number}")
    return ticket


@dataclass(frozen=True)
class ActionRequest:
    action: Action
    text: str | None = None
    department: str | None = None
    co_departments: tuple[str, ...] = ()
    days: int | None = None


async def perform(
    session: AsyncSession,
    *,
    number: str,
    request: ActionRequest,
    staff: Staff,
    catalog: Catalog,
    clock: Clock,
) -> Ticket:
    check_role(request.action, Role(staff.role))
    query = select(Ticket).where(Ticket.number == number)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    ticket = await session.scalar(query)
    if ticket is None or not _may_touch(ticket, staff):
        raise NotFound(f"no ticket {number}")
    current = TicketStatus(ticket.status)
    target = next_status(request.action, current)
    now = clock()
    data = _APPLY[request.action](ticket, request, staff, catalog, now)
    ticket.status = target.value
    ticket.updated_at = now
    add_event(
        session,
        ticket,
        EVENT_OF[request.action],
        at=now,
        actor=staff,
        text=request.text,
        data={"from": current.value, "to": target.value, **data},
    )
    await pass_on(session, ticket, action=request.action, text=request.text, staff=staff, now=now)
    return ticket


def _may_touch(ticket: Ticket, staff: Staff) -> bool:
    if Role(staff.role) is not Role.HANDLER:
        return True
    return ticket.department == staff.department


def _need(value: Any, field: str, message: str) -> Any:
    if value in (None, "", ()):
        raise InvalidInput(message, field=field)
    return value


def _accept(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    return {}


def _dispatch(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    department = c.department(_need(r.department, "department", "choose a department")).code
    co = [c.department(code).code for code in r.co_departments if code != department]
    t.department, t.co_departments = department, co
    return {"department": department, "co_departments": co}


def _reply(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    _need(r.text, "text", "the reply to the citizen is empty")
    return {}


def _close(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    direct = TicketStatus(t.status) is TicketStatus.ACCEPTED
    if direct:
        _need(r.text, "text", "a direct answer (直接答复) needs the answer text")
    t.closed_at = now
    return {"direct_answer": direct}


def _return(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    _need(r.text, "reason", "say why the ticket is returned (退单理由)")
    previous, t.department = t.department, None
    return {"from_department": previous}


def _reopen(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    t.closed_at = None
    return {}


def _extend(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    days = _need(r.days, "days", "how many working days more?")
    if not 0 < days <= 60:
        raise InvalidInput("days must be between 1 and 60", field="days")
    _need(r.text, "reason", "an extension needs a reason (延期理由)")
    if t.extension_pending:
        raise InvalidInput("an extension request is already waiting", field="days")
    t.extension_pending = {"days": days, "reason": r.text, "by": s.id, "at": now.isoformat()}
    return {"days": days}


def _approve(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    pending = t.extension_pending
    if not pending:
        raise InvalidInput("no extension request is waiting", field="action")
    t.extension_pending = None
    days = int(pending["days"])
    t.due_at = add_working_days(t.due_at or now, days)
    return {"days": days, "due_at": t.due_at.isoformat()}


def _reject(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    if not t.extension_pending:
        raise InvalidInput("no extension request is waiting", field="action")
    t.extension_pending = None
    return {}


def _ask(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    """The question goes to the citizen (public event); the clock stops until they answer."""
    _need(r.text, "text", "the question to the citizen is empty")
    if t.waiting_since is None:
        t.waiting_since = now
    return {"waiting_since": t.waiting_since.isoformat()}


def _note(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    _need(r.text, "text", "the note is empty")
    return {}


_APPLY = {
    Action.ACCEPT: _accept,
    Action.DISPATCH: _dispatch,
    Action.REPLY: _reply,
    Action.CLOSE: _close,
    Action.RETURN: _return,
    Action.REOPEN: _reopen,
    Action.EXTEND: _extend,
    Action.APPROVE_EXTENSION: _approve,
    Action.REJECT_EXTENSION: _reject,
    Action.NOTE: _note,
    Action.ASK: _ask,
}

__all__ = ["ActionRequest", "TicketFilter", "get_ticket", "list_tickets", "perform"]
