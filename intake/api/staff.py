"""Staff API: list and read tickets within one's reach, and act on them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, Field

from intake.api.deps import RuntimeDep, StaffDep
from intake.domain.enums import Role, TicketStatus
from intake.domain.errors import InvalidInput
from intake.domain.lifecycle import Action, available_actions
from intake.domain.models import Staff, Ticket, TicketEvent
from intake.domain.phones import mask_phone
from intake.domain.text_hygiene import clean_text
from intake.tickets.actions import ActionRequest, TicketFilter, get_ticket, list_tickets, perform
from intake.triage.workdays import deadline_colour

router = APIRouter(prefix="/api/v1/tickets", tags=["staff"])

# what staff type is stored as it is shown to citizens: without control characters
CleanText = Annotated[str, AfterValidator(clean_text)]
Code = Annotated[str, Field(max_length=64)]
ROW_ID_MAX = 2**63 - 1  # the largest BIGINT: a larger cursor cannot even be compared


class ActionBody(BaseModel):
    text: CleanText | None = Field(None, max_length=5000, description="reply, note or answer text")
    reason: CleanText | None = Field(None, max_length=2000, description="for return and extend")
    department: Code | None = Field(None, description="department code, for dispatch")
    co_departments: list[Code] = Field(
        default_factory=list, max_length=20, description="co-handling units"
    )
    days: int | None = Field(None, description="working days, for extend")
    refer_to: CleanText | None = Field(
        None, max_length=200, description="for decline: where the citizen should go instead"
    )
    category: Code | None = Field(None, description="for categorize: a category code")
    request_type: Code | None = Field(None, description="for categorize: a request type")


class TicketSummary(BaseModel):
    number: str
    status: str
    request_type: str
    category: str | None
    department: str | None
    channel: str
    title: str
    urgent: bool
    contact_phone: str | None
    created_at: datetime
    due_at: datetime | None
    deadline: str | None = None  # green / yellow / red, "paused" while waiting for the citizen
    waiting_since: datetime | None = None


class EventOut(BaseModel):
    id: int
    kind: str
    at: datetime
    actor: str
    actor_name: str | None
    public: bool
    text: str | None
    data: dict[str, Any]


class TicketDetail(TicketSummary):
    # no query code: with it a handler could pose as the citizen on the status page
    content: str
    address: str | None
    latitude: float | None
    longitude: float | None
    contact_name: str | None
    co_departments: list[str]
    supervision: bool
    extension_pending: dict[str, Any] | None
    closed_at: datetime | None
    attachments: list[dict[str, Any]]
    events: list[EventOut]
    actions: list[str]


def _deadline(ticket: Ticket, now: datetime) -> str | None:
    if ticket.status == TicketStatus.CLOSED.value or ticket.due_at is None:
        return None
    if ticket.waiting_since is not None:
        return "paused"
    return deadline_colour(now, ticket.due_at)


def _summary(ticket: Ticket, *, full_phone: bool, now: datetime) -> dict[str, Any]:
    phone = ticket.contact_phone if full_phone else mask_phone(ticket.contact_phone)
    return {
        "number": ticket.number,
        "status": ticket.status,
        "request_type": ticket.request_type,
        "category": ticket.category,
        "department": ticket.department,
        "channel": ticket.channel,
        "title": ticket.title,
        "urgent": ticket.urgent,
        "contact_phone": phone or None,
        "created_at": ticket.created_at,
        "due_at": ticket.due_at,
        "deadline": _deadline(ticket, now),
        "waiting_since": ticket.waiting_since,
    }


def _event(event: TicketEvent) -> EventOut:
    return EventOut(
        id=event.id,
        kind=event.kind,
        at=event.created_at,
        actor=event.actor_kind,
        actor_name=event.actor_name,
        public=event.public,
        text=event.text,
        data=event.data,
    )


def _detail(ticket: Ticket, staff: Staff, now: datetime) -> TicketDetail:
    anonymous_hidden = ticket.anonymous and Role(staff.role) is Role.HANDLER
    return TicketDetail(
        **_summary(ticket, full_phone=not anonymous_hidden, now=now),
        content=ticket.content,
        address=ticket.address,
        latitude=ticket.latitude,
        longitude=ticket.longitude,
        contact_name=None if anonymous_hidden else ticket.contact_name,
        co_departments=list(ticket.co_departments or []),
        supervision=ticket.supervision,
        extension_pending=ticket.extension_pending,
        closed_at=ticket.closed_at,
        attachments=[
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "url": a.url,
            }
            for a in ticket.attachments
        ],
        events=[_event(e) for e in ticket.events],
        actions=available_actions(TicketStatus(ticket.status), Role(staff.role)),
    )


@router.get("", response_model=list[TicketSummary], summary="List and filter tickets")
async def list_endpoint(
    runtime: RuntimeDep,
    staff: StaffDep,
    status: str | None = None,
    department: str | None = None,
    request_type: Annotated[str | None, Query(alias="type")] = None,
    channel: str | None = None,
    urgent: bool | None = None,
    overdue: bool | None = None,
    q: str | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=ROW_ID_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    filters = TicketFilter(
        status=status,
        department=department,
        request_type=request_type,
        channel=channel,
        urgent=urgent,
        overdue=overdue,
        search=q,
        before_id=before_id,
        limit=limit,
    )
    async with runtime.db.read() as session:
        tickets = await list_tickets(session, staff=staff, filters=filters, now=runtime.clock())
    now = runtime.clock()
    return [_summary(t, full_phone=False, now=now) for t in tickets]


@router.get("/{number}", response_model=TicketDetail, summary="One ticket with its events")
async def get_endpoint(number: str, runtime: RuntimeDep, staff: StaffDep) -> TicketDetail:
    async with runtime.db.read() as session:
        ticket = await get_ticket(session, number=number, staff=staff)
    return _detail(ticket, staff, runtime.clock())


@router.post(
    "/{number}/actions/{action}",
    response_model=TicketDetail,
    summary="accept, dispatch, note, reply, close, return, reopen, extend, "
    "approve_extension, reject_extension, ask (the citizen; the deadline waits), "
    "decline (不予受理: reason, refer_to; by default triage's out-of-scope suggestion), "
    "categorize (category and/or request_type: a correction that teaches the model)",
)
async def act_endpoint(
    number: str,
    action: str,
    runtime: RuntimeDep,
    staff: StaffDep,
    body: ActionBody | None = None,
) -> TicketDetail:
    body = body or ActionBody()
    try:
        chosen = Action(action)
    except ValueError as exc:
        raise InvalidInput(f"unknown action '{action}'", field="action") from exc
    request = ActionRequest(
        action=chosen,
        text=body.text or body.reason,
        department=body.department,
        co_departments=tuple(body.co_departments),
        days=body.days,
        refer_to=body.refer_to,
        category=body.category,
        request_type=body.request_type,
    )
    async with runtime.db.write() as session, session.begin():
        changed = await perform(
            session,
            number=number,
            request=request,
            staff=staff,
            catalog=runtime.catalog,
            clock=runtime.clock,
            replies_file=runtime.settings.catalog.replies_file,
            categories=runtime.triage.triage.catalogue.categories if runtime.triage else None,
        )
    await runtime.relay.flush(ticket_id=changed.id)
    async with runtime.db.read() as session:  # unscoped: a return takes it out of reach
        ticket = await get_ticket(session, number=number, staff=None)
    return _detail(ticket, staff, runtime.clock())
