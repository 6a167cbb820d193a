"""The pipeline's steps, in order. Each does one thing and records why.

A step returns nothing to continue, or sets `ctx.stopped` with a reason to end processing of
the message (it is still recorded as a message, never dropped silently).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from intake.domain.enums import EventKind, Intent, RequestType, TicketStatus
from intake.domain.events import add_event
from intake.domain.messages import IdentityKind
from intake.domain.models import AttachmentRecord, Citizen, Message, Ticket
from intake.domain.new_rows import add, build
from intake.domain.phones import mask_phone
from intake.domain.titles import ticket_title
from intake.pipeline.agent_answer import close_answered_call
from intake.pipeline.closed_replies import reopen_on_reply
from intake.pipeline.context import Context, identity_key_of
from intake.pipeline.intent import apply_opt_out, decide_intent, record_bounce
from intake.pipeline.rating import record_rating
from intake.pipeline.repeats import link_duplicate, refine_intent
from intake.pipeline.triage_steps import apply_triage, assess_request
from intake.pipeline.waiting import resume_clock
from intake.triage.alarm import advice_of

log = logging.getLogger(__name__)

Step = Callable[[Context], Awaitable[None]]


async def dedupe_delivery(ctx: Context) -> None:
    """The database is the final word on 'seen before' (the edge's Redis key may expire)."""
    key = (ctx.message.channel, ctx.message.external_id)
    if key in ctx.batch.seen:
        ctx.stopped = "duplicate delivery"
        return
    ctx.batch.seen.add(key)


async def identify_citizen(ctx: Context) -> None:
    """One citizen, many identities: a phone the channel vouches for links them together (a
    typed contact phone stays on the ticket only)."""
    batch, message = ctx.batch, ctx.message
    own_key = identity_key_of(message)
    phone = message.vouched_phone
    phone_key = ("phone", "", phone) if phone else None
    known = batch.identities.get(own_key) or (phone_key and batch.identities.get(phone_key))
    citizen = known.citizen if known else build(Citizen, name=message.fields.get("contact_name"))
    if not known:
        add(batch.session, citizen)
    for key in (own_key, phone_key):
        if key and key not in batch.identities:
            batch.add_identity(citizen, key)
    ctx.citizen = citizen


async def record_message(ctx: Context) -> None:
    message = ctx.message
    ctx.record = build(
        Message,
        channel=message.channel,
        external_id=message.external_id,
        citizen=ctx.citizen,
        kind=message.kind.value,
        intent=(ctx.intent or Intent.IGNORED).value,
        text=message.text,
        payload=ctx.payload or message.to_dict(),
        received_at=message.received_at,
        processed_at=ctx.batch.clock(),
    )
    add(ctx.batch.session, ctx.record)


async def open_ticket(ctx: Context) -> None:
    if ctx.intent is not Intent.NEW_REQUEST:
        return
    if not ctx.number:
        ctx.number, ctx.query_code = await ctx.batch.gateway.allocate_number(
            ctx.message.received_at
        )
    ctx.ticket = _new_ticket(ctx)
    add(ctx.batch.session, ctx.ticket)
    ctx.batch.add_ticket(ctx.ticket)
    _citizen_wrote(ctx, EventKind.RECEIVED, **_emergency_of(ctx))


def _emergency_of(ctx: Context) -> dict[str, object]:
    """The emergency advice the acknowledgement carries: the guard's finding that the
    gateway gave the channel at once (the same check; see `intake.triage.alarm`)."""
    hit = ctx.assessment.emergency if ctx.assessment else None
    return {"emergency": advice_of(hit).to_dict()} if hit is not None else {}


def _new_ticket(ctx: Context) -> Ticket:
    message, fields = ctx.message, ctx.message.fields
    location = message.location
    text = message.text.strip()
    phone = fields.get("contact_phone")
    if phone is None and message.sender.kind is IdentityKind.PHONE:
        phone = message.sender.value
    assert ctx.number and ctx.query_code and ctx.citizen is not None
    return build(
        Ticket,
        number=ctx.number,
        query_code=ctx.query_code,
        citizen=ctx.citizen,
        channel=message.channel,
        request_type=fields.get("request_type") or RequestType.CONSULTATION.value,
        status=TicketStatus.RECEIVED.value,
        title=ticket_title(fields.get("title"), text),
        content=text,
        address=location.label if location else None,
        latitude=location.latitude if location else None,
        longitude=location.longitude if location else None,
        contact_phone=phone,
        contact_name=fields.get("contact_name"),
        anonymous=bool(fields.get("anonymous")),
        co_departments=[],
        created_at=message.received_at,
        updated_at=ctx.batch.clock(),
    )


async def add_follow_up(ctx: Context) -> None:
    if ctx.intent is not Intent.FOLLOW_UP or ctx.ticket is None:
        return
    ctx.ticket.updated_at = ctx.batch.clock()
    _citizen_wrote(ctx, EventKind.FOLLOW_UP)


async def note_status_query(ctx: Context) -> None:
    """Record the question on the ticket so that the answer can be sent and counted."""
    if ctx.intent is not Intent.STATUS_QUERY or ctx.ticket is None:
        return
    ctx.batch.events.append(
        add_event(
            ctx.batch.session,
            ctx.ticket,
            EventKind.STATUS_QUERY,
            at=ctx.batch.clock(),
            actor_kind="citizen",
            message=ctx.record,
            public=False,
            data={"channel": ctx.message.channel, "status": ctx.ticket.status},
        )
    )


def _citizen_wrote(ctx: Context, kind: EventKind, **extra: object) -> None:
    """The citizen's message on the ticket, with the decisions that put it there, and files."""
    assert ctx.ticket is not None
    ctx.batch.events.append(
        add_event(
            ctx.batch.session,
            ctx.ticket,
            kind,
            at=ctx.batch.clock(),
            actor_kind="citizen",
            text=ctx.message.text,
            message=ctx.record,
            data={"channel": ctx.message.channel, "decisions": ctx.decisions, **extra},
        )
    )
    _attach_files(ctx)


def _attach_files(ctx: Context) -> None:
    assert ctx.ticket is not None
    for item in ctx.message.attachments:
        ctx.batch.session.add(
            AttachmentRecord(
                ticket=ctx.ticket,
                message=ctx.record,
                filename=item.filename,
                content_type=item.content_type,
                size=item.size,
                sha256=item.sha256,
                storage_key=item.storage_key,
                url=item.url,
                media_id=item.media_id,
            )
        )


async def link_message(ctx: Context) -> None:
    if ctx.record is not None:
        ctx.record.ticket = ctx.ticket
    log.debug(
        "processed channel=%s external_id=%s sender=%s intent=%s ticket=%s",
        ctx.message.channel,
        ctx.message.external_id,
        _masked_sender(ctx),
        ctx.intent,
        ctx.ticket.number if ctx.ticket else None,
    )


def _masked_sender(ctx: Context) -> str:
    sender = ctx.message.sender
    return mask_phone(sender.value) if sender.kind is IdentityKind.PHONE else sender.kind.value


DEFAULT_STEPS: tuple[Step, ...] = (
    dedupe_delivery,
    identify_citizen,
    decide_intent,
    refine_intent,
    assess_request,
    record_message,
    open_ticket,
    apply_triage,
    close_answered_call,
    link_duplicate,
    apply_opt_out,
    record_rating,
    record_bounce,
    reopen_on_reply,
    add_follow_up,
    resume_clock,
    note_status_query,
    link_message,
)
