"""A short verdict "the answer did not help" on a recent direct answer reopens it for an agent.

A direct answer (直接答复, from the knowledge base or an agent) closes the ticket at once and
tells the citizen to reply "未解决" if it did not help. Such a reply — or 没用, 转人工 … as a
short message, within the window — reopens the ticket through the lifecycle (a public
`reopened` event) and the citizen is told an agent will handle it. The ticket is the one the
message refers to explicitly (a reply in the mail thread), else the citizen's most recently
closed direct answer; an implicit attachment to some other open ticket (SMS with one open
ticket) gives way to it. Unsatisfied callback ratings reopen under supervision elsewhere
(notifier.answers).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from intake.domain.enums import EventKind, Intent, TicketStatus
from intake.domain.lifecycle import reopen
from intake.domain.models import Ticket, TicketEvent
from intake.pipeline.context import Context
from intake.triage.repeat_rules import NotHelpfulRules

RULE_ID = "not-helpful"
REOPEN_TEXT = "市民反馈直接答复未能解决问题，转人工处理"


async def reopen_if_not_helpful(ctx: Context, rules: NotHelpfulRules) -> bool:
    """True (ticket reopened, intent a follow-up on it) when the message is such a verdict."""
    word = rules.matches(ctx.message.text)
    if word is None or ctx.citizen is None or ctx.citizen.id is None:
        return False
    if _explicit_open_follow_up(ctx):
        return False
    since = ctx.message.received_at - rules.window
    ticket = await _closed_ticket(ctx, since)
    closing = await _direct_answer(ctx, ticket, since) if ticket is not None else None
    if ticket is None or closing is None:
        return False
    _reopen(ctx, ticket, word, closing)
    ctx.intent, ctx.ticket = Intent.FOLLOW_UP, ticket
    ctx.decide(
        "intent",
        Intent.FOLLOW_UP,
        reason="the direct answer did not help: reopened for an agent",
        rule_id=RULE_ID,
        ticket=ticket.number,
        matched=[word],
    )
    ctx.reply_text = rules.reply.format(ticket=ticket.number)
    return True


def _explicit_open_follow_up(ctx: Context) -> bool:
    """A message that names an open ticket (thread reply, its number or code) stays with it."""
    ticket = ctx.ticket
    if ctx.intent is not Intent.FOLLOW_UP or ticket is None:
        return False
    if ticket.status == TicketStatus.CLOSED.value:
        return False
    text = ctx.message.text.upper()
    return bool(ctx.message.thread_ref) or ticket.number in text or ticket.query_code in text


async def _closed_ticket(ctx: Context, since: datetime) -> Ticket | None:
    ticket = ctx.ticket
    referenced = ctx.intent is Intent.FOLLOW_UP and bool(ctx.message.thread_ref)
    if referenced and ticket is not None and ticket.status == TicketStatus.CLOSED.value:
        return ticket
    assert ctx.citizen is not None
    session = ctx.batch.session
    with session.no_autoflush:
        return await session.scalar(
            select(Ticket)
            .where(
                Ticket.citizen_id == ctx.citizen.id,
                Ticket.status == TicketStatus.CLOSED.value,
                Ticket.closed_at >= since,
            )
            .order_by(Ticket.closed_at.desc())
            .limit(1)
        )


async def _direct_answer(ctx: Context, ticket: Ticket, since: datetime) -> TicketEvent | None:
    """The event that closed the ticket, when it was a direct answer inside the window."""
    session = ctx.batch.session
    with session.no_autoflush:
        closing = await session.scalar(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.CLOSED.value)
            .order_by(TicketEvent.id.desc())
            .limit(1)
        )
    if closing is None or not closing.data.get("direct_answer") or closing.created_at < since:
        return None
    return closing


def _reopen(ctx: Context, ticket: Ticket, word: str, closing: TicketEvent) -> None:
    ctx.batch.events.append(
        reopen(
            ctx.batch.session,
            ticket,
            at=ctx.batch.clock(),
            reason="not_helpful",
            text=REOPEN_TEXT,
            actor_kind="citizen",
            data={
                "rule_id": RULE_ID,
                "matched": [word],
                "kb_entry": closing.data.get("kb_entry"),
                "channel": ctx.message.channel,
            },
        )
    )
