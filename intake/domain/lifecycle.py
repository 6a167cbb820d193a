"""The closed loop as an explicit state machine: 受理→派单→办理→答复→办结, plus 退单 and 重办.

Each staff action maps the current status to the next one; anything else is refused with
`InvalidTransition` (HTTP 409). The same table answers "what can be done now?" for the UI.
`reopen` is the one way a ticket goes back to handling outside a staff action (the citizen's
reply, an unsatisfied rating, an answer that did not help).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import EventKind, Role, TicketStatus
from intake.domain.errors import Forbidden, InvalidTransition
from intake.domain.events import add_event
from intake.domain.models import Message, Ticket, TicketEvent

S = TicketStatus


class Action(StrEnum):
    ACCEPT = "accept"
    DISPATCH = "dispatch"
    NOTE = "note"
    REPLY = "reply"
    CLOSE = "close"
    RETURN = "return"
    REOPEN = "reopen"
    EXTEND = "extend"
    APPROVE_EXTENSION = "approve_extension"
    REJECT_EXTENSION = "reject_extension"
    ASK = "ask"  # ask the citizen for information; the deadline waits for the answer
    DECLINE = "decline"  # 不予受理: close with the polite reply saying where to go instead
    CATEGORIZE = "categorize"  # correct the category or type; the status stays
    END_WAIT = "end_wait"  # 结束等待: stop waiting for the citizen's answer; the clock runs again


# action -> {from status: to status}; None as a target keeps the status unchanged.
TRANSITIONS: dict[Action, dict[TicketStatus, TicketStatus | None]] = {
    # the hotline accepts a new or reopened ticket; a department signs for a dispatched one
    Action.ACCEPT: {S.RECEIVED: S.ACCEPTED, S.REOPENED: S.ACCEPTED, S.DISPATCHED: S.IN_PROGRESS},
    Action.DISPATCH: {
        S.RECEIVED: S.DISPATCHED,
        S.ACCEPTED: S.DISPATCHED,
        S.RETURNED: S.DISPATCHED,
        S.REOPENED: S.DISPATCHED,
    },
    Action.NOTE: dict.fromkeys(S),
    Action.REPLY: {
        S.ACCEPTED: S.REPLIED,
        S.DISPATCHED: S.REPLIED,
        S.IN_PROGRESS: S.REPLIED,
        S.REPLIED: S.REPLIED,
        S.REOPENED: S.REPLIED,
    },
    # closing from accepted is the direct answer (直接答复) given by the hotline itself
    Action.CLOSE: {S.REPLIED: S.CLOSED, S.ACCEPTED: S.CLOSED},
    Action.RETURN: {S.DISPATCHED: S.RETURNED, S.IN_PROGRESS: S.RETURNED},
    Action.REOPEN: {S.CLOSED: S.REOPENED, S.REPLIED: S.REOPENED},
    Action.EXTEND: {S.DISPATCHED: None, S.IN_PROGRESS: None},
    Action.APPROVE_EXTENSION: {S.DISPATCHED: None, S.IN_PROGRESS: None},
    Action.REJECT_EXTENSION: {S.DISPATCHED: None, S.IN_PROGRESS: None},
    Action.ASK: {S.ACCEPTED: None, S.DISPATCHED: None, S.IN_PROGRESS: None, S.REOPENED: None},
    Action.DECLINE: {S.RECEIVED: S.CLOSED, S.ACCEPTED: S.CLOSED},
    Action.CATEGORIZE: dict.fromkeys(S),
    Action.END_WAIT: {S.ACCEPTED: None, S.DISPATCHED: None, S.IN_PROGRESS: None, S.REOPENED: None},
}

EVENT_OF: dict[Action, EventKind] = {
    Action.ACCEPT: EventKind.ACCEPTED,
    Action.DISPATCH: EventKind.DISPATCHED,
    Action.NOTE: EventKind.NOTE,
    Action.REPLY: EventKind.REPLIED,
    Action.CLOSE: EventKind.CLOSED,
    Action.RETURN: EventKind.RETURNED,
    Action.REOPEN: EventKind.REOPENED,
    Action.EXTEND: EventKind.EXTENSION_REQUESTED,
    Action.APPROVE_EXTENSION: EventKind.EXTENSION_GRANTED,
    Action.REJECT_EXTENSION: EventKind.EXTENSION_REJECTED,
    Action.ASK: EventKind.INFO_REQUESTED,
    Action.DECLINE: EventKind.CLOSED,
    Action.CATEGORIZE: EventKind.CATEGORIZED,
    Action.END_WAIT: EventKind.WAIT_ENDED,
}

_HOTLINE = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
_EVERYONE = frozenset(Role)
ALLOWED_ROLES: dict[Action, frozenset[Role]] = {
    Action.ACCEPT: _EVERYONE,
    Action.DISPATCH: _HOTLINE,
    Action.NOTE: _EVERYONE,
    Action.REPLY: _EVERYONE,
    Action.CLOSE: _HOTLINE,
    Action.RETURN: frozenset({Role.HANDLER, Role.SUPERVISOR, Role.ADMIN}),
    Action.REOPEN: _HOTLINE,
    Action.EXTEND: frozenset({Role.HANDLER, Role.SUPERVISOR, Role.ADMIN}),
    Action.APPROVE_EXTENSION: frozenset({Role.SUPERVISOR, Role.ADMIN}),
    Action.REJECT_EXTENSION: frozenset({Role.SUPERVISOR, Role.ADMIN}),
    Action.ASK: _EVERYONE,
    Action.DECLINE: _HOTLINE,
    Action.CATEGORIZE: _HOTLINE,
    Action.END_WAIT: _EVERYONE,
}


def next_status(action: Action, current: TicketStatus) -> TicketStatus:
    """The status after `action`, or `InvalidTransition` when the loop does not allow it."""
    targets = TRANSITIONS[action]
    if current not in targets:
        raise InvalidTransition(action=action.value, status=current.value)
    target = targets[current]
    return current if target is None else target


def check_role(action: Action, role: Role) -> None:
    if role not in ALLOWED_ROLES[action]:
        raise Forbidden(f"role '{role.value}' may not '{action.value}'")


def available_actions(current: TicketStatus, role: Role) -> list[str]:
    return [a.value for a, t in TRANSITIONS.items() if current in t and role in ALLOWED_ROLES[a]]


def may_reopen(ticket: Ticket) -> bool:
    return TicketStatus(ticket.status) in TRANSITIONS[Action.REOPEN]


def reopen(
    session: AsyncSession,
    ticket: Ticket,
    *,
    at: datetime,
    reason: str,
    text: str,
    actor_kind: str,
    data: dict[str, Any] | None = None,
    message: Message | None = None,
) -> TicketEvent:
    """重新办理: the status, the cleared close time and the REOPENED event (whose data says
    from, to and why), in the caller's transaction. `InvalidTransition` where not allowed."""
    current = TicketStatus(ticket.status)
    target = next_status(Action.REOPEN, current)
    ticket.status, ticket.closed_at, ticket.updated_at = target.value, None, at
    return add_event(
        session,
        ticket,
        EVENT_OF[Action.REOPEN],
        at=at,
        actor_kind=actor_kind,
        text=text,
        message=message,
        data={"from": current.value, "to": target.value, "reason": reason, **(data or {})},
    )
