"""A citizen writing back about their own closed ticket: reopen, follow-up, or a new request.

Within `closed_reply_window_days` of the closure, a reply (a thread reference, such as an
e-mail answering ours, or the ticket's number or query code quoted in the text, on any channel)
lands on the old ticket: `closed_reply_action` "reopen" sends it back to handling through the
lifecycle's REOPEN transition (the state machine stays the one authority on statuses),
"follow_up" only adds the message for staff to read. Later than that, the matter is a new
request, and the decision naming the old ticket is kept on the new one. An answer to the
callback survey is a rating, never a reopen by itself: the survey mail is a reply to the closed
ticket too.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import func, select

from intake.domain.enums import TERMINAL_STATUSES, Intent, TicketStatus
from intake.domain.lifecycle import reopen
from intake.domain.models import Ticket
from intake.ingest.gateway import QUERY_CODE_ALPHABET, QUERY_CODE_LENGTH
from intake.pipeline.context import Context
from intake.pipeline.rating import answers_a_prompt

STEP = "closed_reply"
REOPEN = "reopen"
# a query code can only be quoted in a text that has this many code symbols in a row
CODE_RUN = re.compile(f"[{QUERY_CODE_ALPHABET}]{{{QUERY_CODE_LENGTH}}}")
# the sender's closed tickets whose codes a text is compared with, the latest closed first
CODE_CANDIDATES = 20
_CLOSED = tuple(s.value for s in TERMINAL_STATUSES)


def is_closed(ticket: Ticket) -> bool:
    return TicketStatus(ticket.status) in TERMINAL_STATUSES


def _closed_at(ticket: Ticket) -> datetime:
    return ticket.closed_at or ticket.updated_at


async def closed_reply(ctx: Context, ticket: Ticket, *, via: str) -> bool:
    """Decide a reference (`via`) to the sender's own closed `ticket`; False: not this ticket."""
    policy = ctx.batch.pipeline
    closed_at = _closed_at(ticket)
    age = ctx.message.received_at - closed_at
    window = policy.closed_reply_window_days
    why = {"ticket": ticket.number, "closed_at": closed_at.isoformat(), "window_days": window}
    if any(d["step"] == STEP and d.get("ticket") == ticket.number for d in ctx.decisions):
        return False  # already judged (and too old) through another reference
    if age > timedelta(days=window):
        days = age / timedelta(days=1)
        reason = f"{via} to a ticket closed {days:.1f} days ago, after the window"
        ctx.decide(STEP, Intent.NEW_REQUEST, reason=reason, **why)
        return False
    if await answers_a_prompt(ctx):  # the callback survey's answer: a rating
        return True
    ctx.ticket = ticket
    action = policy.closed_reply_action
    ctx.decide(STEP, action, reason=f"{via} within the window after closure", **why)
    ctx.intent = Intent.FOLLOW_UP
    ctx.decide("intent", Intent.FOLLOW_UP, reason=via, ticket=ticket.number)
    return True


async def closed_in_text(ctx: Context, numbers: re.Pattern[str]) -> bool:
    """The number or query code of one's own closed ticket quoted in the text, on any channel."""
    citizen = ctx.citizen
    if citizen is None or citizen.id is None:
        return False
    text = unicodedata.normalize("NFKC", ctx.message.text)
    for number in dict.fromkeys(numbers.findall(text)):
        if not _plausible(number):  # "+8613812345678" is a phone number, not a ticket
            continue
        ticket = await ctx.batch.ticket(number)
        if ticket is not None and ticket.citizen_id == citizen.id and is_closed(ticket):
            return await closed_reply(ctx, ticket, via="ticket number in the text")
    return await _closed_code_in_text(ctx, citizen.id, text.upper())


async def _closed_code_in_text(ctx: Context, citizen_id: int, text: str) -> bool:
    """The query code of one's own closed ticket in `text` (NFKC, upper-cased), as
    `_reference_in_text` matches those of open tickets; someone else's code is no reference."""
    if not CODE_RUN.search(text):  # most texts (Chinese words, numbers) cannot hold a code
        return False
    for ticket in await _latest_closed_tickets(ctx, citizen_id):
        if ticket.query_code in text and is_closed(ticket):
            return await closed_reply(ctx, ticket, via="query code in the text")
    return False


async def _latest_closed_tickets(ctx: Context, citizen_id: int) -> list[Ticket]:
    """The sender's closed tickets, the latest closed first, capped: one indexed query.

    Not only those inside the window: a code of an older one still names it on the new
    request that the message becomes (`closed_reply`).
    """
    found = await ctx.batch.session.scalars(
        select(Ticket)
        .where(Ticket.citizen_id == citizen_id, Ticket.status.in_(_CLOSED))
        .order_by(func.coalesce(Ticket.closed_at, Ticket.updated_at).desc(), Ticket.id.desc())
        .limit(CODE_CANDIDATES)
    )
    return [ctx.batch.tickets.setdefault(ticket.number, ticket) for ticket in found]


def _plausible(number: str) -> bool:
    """A ticket number starts with its intake day, YYYYMMDD."""
    year, month, day = int(number[:4]), int(number[4:6]), int(number[6:8])
    return 2000 <= year <= 2199 and 1 <= month <= 12 and 1 <= day <= 31


def _decided_reopen(ctx: Context) -> bool:
    return any(d["step"] == STEP and d["outcome"] == REOPEN for d in ctx.decisions)


async def reopen_on_reply(ctx: Context) -> None:
    """The step: the citizen's reply inside the window brings the closed ticket back (重新办理)."""
    ticket = ctx.ticket
    if ctx.intent is not Intent.FOLLOW_UP or ticket is None or not is_closed(ticket):
        return
    if not _decided_reopen(ctx):
        return
    closed_at = _closed_at(ticket)
    event = reopen(
        ctx.batch.session,
        ticket,
        at=ctx.batch.clock(),
        reason="citizen_reply",
        text="市民在办结后回复，重新办理",
        actor_kind="citizen",
        message=ctx.record,
        data={"channel": ctx.message.channel, "closed_at": closed_at.isoformat()},
    )
    ctx.batch.events.append(event)
