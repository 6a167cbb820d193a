"""Staff work on tickets: listing within one's reach, reading, and the lifecycle actions.

Each action checks role, department and the state machine, changes the ticket, and writes a
ticket event in the same transaction (the event is also the domain event's outbox row).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from intake.catalog import Catalog
from intake.domain.clock import Clock
from intake.domain.enums import RequestType, Resolution, Role, TicketStatus
from intake.domain.errors import InvalidInput, NotFound
from intake.domain.events import add_event
from intake.domain.lifecycle import EVENT_OF, Action, check_role, next_status
from intake.domain.models import Staff, Ticket
from intake.tickets import decline
from intake.tickets.linked import pass_on
from intake.tickets.waiting_clock import stop_waiting
from intake.triage.catalogue import CategoryCatalogue
from intake.triage.workdays import add_working_days

OUT_OF_SCOPE = "out-of-scope"  # the category triage files 不予受理 under


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
    refer_to: str | None = None  # decline: where the citizen should go instead
    category: str | None = None  # categorize: the corrected category code
    request_type: str | None = None  # categorize: the corrected request type


async def perform(
    session: AsyncSession,
    *,
    number: str,
    request: ActionRequest,
    staff: Staff,
    catalog: Catalog,
    clock: Clock,
    replies_file: Path | None = None,
    categories: CategoryCatalogue | None = None,
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
    facts: dict[str, Any] = {}
    if request.action is Action.DECLINE:  # the reply is the event's text, as for close
        declining = decline.compose(
            reason=request.text,
            refer_to=request.refer_to,
            suggestion=await decline.suggestion_of(session, ticket),
            replies_file=replies_file,
        )
        request, facts = replace(request, text=declining.text), declining.data()
    if request.action is Action.CATEGORIZE:
        facts = _categorize(ticket, request, categories)
    data = {**_APPLY[request.action](ticket, request, staff, catalog, now), **facts}
    if request.action in _ENDS_WAIT and ticket.waiting_since is not None:
        data["wait_ended"] = stop_waiting(ticket, now=now)
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
    resolution = Resolution.DIRECT_ANSWER if direct else Resolution.DONE
    return {"direct_answer": direct, "resolution": resolution.value}


def _decline(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    """不予受理: closed and counted apart from 办结, filed as out of scope as triage files it."""
    previous, t.category, t.closed_at = t.category, OUT_OF_SCOPE, now
    return {"resolution": Resolution.DECLINED.value, "category_before": previous}


def _categorize(
    t: Ticket, r: ActionRequest, categories: CategoryCatalogue | None
) -> dict[str, Any]:
    """A staff correction of category or type: the ticket takes it, the suggested department
    follows the category (a dispatched ticket stays where it is), and the event teaches the
    learned model (`intake triage train --from-corrections`)."""
    if r.category is None and r.request_type is None:
        raise InvalidInput("give a category, a request_type or both", field="category")
    if r.request_type is not None and r.request_type not in set(RequestType):
        raise InvalidInput(f"unknown request type '{r.request_type}'", field="request_type")
    data: dict[str, Any] = {"category_before": t.category, "request_type_before": t.request_type}
    if r.category is not None:
        if categories is None:
            raise InvalidInput("triage is off: no category catalogue", field="category")
        known = {c.code: c for c in (*categories.categories, categories.fallback)}
        if r.category not in known:
            raise InvalidInput(f"unknown category '{r.category}'", field="category")
        chosen = known[r.category]
        t.category = chosen.code
        data["suggested_department"] = chosen.department
        data["co_departments"] = list(chosen.co_departments)
    if r.request_type is not None:
        t.request_type = r.request_type
    t.needs_human = False  # a person has classified it: out of 待人工分类
    return {**data, "category": t.category, "request_type": t.request_type}


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


def _end_wait(t: Ticket, r: ActionRequest, s: Staff, c: Catalog, now: datetime) -> dict[str, Any]:
    """结束等待 without an answer: `perform` clears the wait and moves the deadline."""
    if t.waiting_since is None:
        raise InvalidInput("the ticket is not waiting for the citizen", field="action")
    return {}


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
    Action.DECLINE: _decline,
    Action.CATEGORIZE: _accept,  # the work is `_categorize`, which needs the categories
    Action.END_WAIT: _end_wait,
}
# an answer, closing, reopening, declining or 结束等待 ends a wait for the citizen's answer
_ENDS_WAIT = frozenset(
    {Action.REPLY, Action.CLOSE, Action.REOPEN, Action.DECLINE, Action.END_WAIT}
)

__all__ = ["ActionRequest", "TicketFilter", "get_ticket", "list_tickets", "perform"]
