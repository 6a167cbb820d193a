"""What an inbound message means, decided once in the core for every channel.

In order: kept-only kinds, new requests submitted as such, opt-out / opt-in words (the whole
message), the flood guard, an explicit thread reference, status queries, a ticket number or
query code of one's own open ticket inside the text, and, on channels configured for it
(SMS), the citizen's single open ticket. Anything else is a new request. A reference to one's
own closed ticket is decided by the closed-reply policy (closed_replies.py).
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select

from intake.calls.request import FILED_BY
from intake.domain.enums import TERMINAL_STATUSES, EventKind, Intent
from intake.domain.events import add_event
from intake.domain.messages import IdentityKind, MessageKind
from intake.domain.models import Ticket
from intake.pipeline.closed_replies import CODE_RUN, closed_in_text, closed_reply, is_closed
from intake.pipeline.context import Context
from intake.pipeline.rating import answers_a_prompt
from intake.privacy.pseudonyms import pseudonym

TICKET_NUMBER = re.compile(r"(?<!\d)(\d{8}\d{5,7})(?!\d)")
_DIGIT_RUN = re.compile(r"\d{13}")  # every ticket number has at least 13 digits
STATUS_WORDS = frozenset({"查询", "进度", "查询进度", "办理进度", "状态", "status", "/status"})
OPT_OUT_WORDS = frozenset(
    {
        "td",
        "t",
        "n",
        "退订",
        "退定",
        "取消",
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
    }
)
OPT_IN_WORDS = frozenset({"开通", "start", "unstop", "订阅"})
_NO_TICKET_KINDS = frozenset({MessageKind.EVENT, MessageKind.UNKNOWN})
# what a channel marks as machine-generated (`fields["classification"]`): kept, never answered,
# never a ticket (auto-replies, bounces, our own notifications coming back: mail loops)
AUTOMATED = frozenset({"auto_reply", "bounce", "own"})
_CLOSED = tuple(s.value for s in TERMINAL_STATUSES)


def normalized(text: str) -> str:
    """Full-width letters and digits folded (ＴＤ → td), spaces and end punctuation dropped."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return folded.strip("。.!！ ")


async def decide_intent(ctx: Context) -> None:
    message = ctx.message
    if message.fields.get("classification") in AUTOMATED:
        ctx.outcome_note = "automated"
        ctx.ticket = await _bounced_ticket(ctx)
        return _set(ctx, Intent.IGNORED, f"machine-generated: {message.fields['classification']}")
    if message.kind in _NO_TICKET_KINDS:
        return _set(ctx, Intent.IGNORED, f"kind {message.kind.value}")
    if ctx.number:
        return _set(ctx, Intent.NEW_REQUEST, "submitted as a new request")
    word = normalized(message.text)
    if message.sender.kind is IdentityKind.PHONE and word in OPT_OUT_WORDS | OPT_IN_WORDS:
        intent = Intent.OPT_OUT if word in OPT_OUT_WORDS else Intent.OPT_IN
        return _set(ctx, intent, f"the whole message is '{word}'")
    if await _flooding(ctx):
        ctx.outcome_note = "flood"
        return _set(ctx, Intent.IGNORED, "sender exceeded the flood limit")
    if await _thread_reference(ctx):
        return None
    if word in STATUS_WORDS or TICKET_NUMBER.fullmatch(word):
        if TICKET_NUMBER.fullmatch(word):
            ctx.ticket = await _own_ticket(ctx, word)
        else:
            ctx.open_tickets = [
                {"number": t.number, "status": t.status} for t in await _open_tickets(ctx)
            ]
        return _set(ctx, Intent.STATUS_QUERY, "status words or a ticket number alone")
    if await answers_a_prompt(ctx):
        return None
    if await _reference_in_text(ctx) or await closed_in_text(ctx, TICKET_NUMBER):
        return None
    if await _single_open_ticket(ctx):
        return None
    return _set(ctx, Intent.NEW_REQUEST, "no ticket referenced")


async def _bounced_ticket(ctx: Context) -> Ticket | None:
    """The ticket whose notification bounced: our Message-IDs carry the ticket number."""
    bounce = ctx.message.fields.get("bounce") or {}
    if ctx.message.fields.get("classification") != "bounce" or not isinstance(bounce, dict):
        return None
    found = TICKET_NUMBER.search(str(bounce.get("ticket_number") or "")) or TICKET_NUMBER.search(
        str(bounce.get("original_message_id") or "")
    )
    return await ctx.batch.ticket(found.group(1)) if found else None


def _set(ctx: Context, intent: Intent, reason: str, **why: object) -> None:
    ctx.intent = intent
    ctx.decide("intent", intent, reason=reason, **why)


# The n-th distinct message of a sender this hour is told n, also when its batch is retried
# (a message already counted keeps its place instead of counting twice).
_COUNT_SENDERS = """
local counts = {}
for i, key in ipairs(KEYS) do
  local place = redis.call('HGET', key, ARGV[i])
  if not place then
    place = redis.call('HLEN', key) + 1
    redis.call('HSET', key, ARGV[i], place)
    if place == 1 then redis.call('EXPIRE', key, 7200) end
  end
  counts[i] = tonumber(place)
end
return counts
"""


def _flood_key(ctx: Context) -> str | None:
    """The sender's counter for this hour, if this message counts toward the flood guard:
    the messages `decide_intent` reaches the guard with (not machine-made, not numbered at
    the edge, not an opt-out or opt-in word, not a call an agent typed in)."""
    message = ctx.message
    if not ctx.batch.flood_per_hour or ctx.number or FILED_BY in message.fields:
        return None
    if message.fields.get("classification") in AUTOMATED or message.kind in _NO_TICKET_KINDS:
        return None
    sender = message.sender
    if (
        sender.kind is IdentityKind.PHONE
        and normalized(message.text) in OPT_OUT_WORDS | OPT_IN_WORDS
    ):
        return None
    hour = int(message.received_at.timestamp() // 3600)
    who = pseudonym(sender.value, secret=ctx.batch.secret)  # no phone in a key's name
    return ctx.batch.gateway.keys.flood(sender.kind.value, who, str(hour))


async def count_senders(contexts: list[Context]) -> None:
    """Count the batch's messages per sender and hour in one round trip, in batch order (so
    the n-th message of a sender sees the count a message-by-message guard would have)."""
    if not contexts:
        return
    batch = contexts[0].batch
    seen = set(batch.seen)
    counted: list[tuple[Context, str]] = []
    for ctx in contexts:
        delivery = (ctx.message.channel, ctx.message.external_id)
        if delivery in seen:
            continue  # a repeated delivery is not another message
        seen.add(delivery)
        if (key := _flood_key(ctx)) is not None:
            counted.append((ctx, key))
    if counted:
        redis = batch.gateway.redis
        counts = await redis.eval(
            _COUNT_SENDERS,
            len(counted),
            *(k for _, k in counted),
            *(ctx.message.external_id for ctx, _ in counted),
        )
        for (ctx, _), count in zip(counted, counts, strict=True):
            ctx.sender_count = int(count)


async def _flooding(ctx: Context) -> bool:
    limit = ctx.batch.flood_per_hour
    if not limit:
        return False
    if ctx.sender_count is None:  # not counted with its batch (a step run on its own)
        await count_senders([ctx])
    return (ctx.sender_count or 0) > limit


async def _thread_reference(ctx: Context) -> bool:
    ref = ctx.message.thread_ref
    if not ref or not TICKET_NUMBER.fullmatch(ref):
        return False
    ticket = await _own_ticket(ctx, ref)
    if ticket is None:
        ctx.decide(
            "intent", "not_follow_up", reason="referenced ticket is not the sender's", ticket=ref
        )
        return False
    if is_closed(ticket):
        return await closed_reply(ctx, ticket, via="thread reference")
    ctx.ticket = ticket
    _set(ctx, Intent.FOLLOW_UP, "thread reference", ticket=ref)
    return True


async def _reference_in_text(ctx: Context) -> bool:
    """A citizen quoting their ticket number or query code continues that ticket."""
    text = unicodedata.normalize("NFKC", ctx.message.text).upper()
    if not (_DIGIT_RUN.search(text) or CODE_RUN.search(text)):
        return False  # no run of digits or symbols that could be one: no query needed
    tickets = await _open_tickets(ctx)
    for ticket in tickets:
        if ticket.number in text or ticket.query_code in text:
            ctx.ticket = ticket
            _set(
                ctx,
                Intent.FOLLOW_UP,
                "ticket number or query code in the text",
                ticket=ticket.number,
            )
            return True
    return False


async def _single_open_ticket(ctx: Context) -> bool:
    if ctx.message.channel not in ctx.batch.single_open_channels:
        return False
    tickets = await _open_tickets(ctx)
    if len(tickets) != 1:
        return False
    ctx.ticket = tickets[0]
    _set(ctx, Intent.FOLLOW_UP, "the sender's only open ticket", ticket=tickets[0].number)
    return True


async def _open_tickets(ctx: Context) -> list[Ticket]:
    citizen = ctx.citizen
    if citizen is None or citizen.id is None:
        return []
    found = await ctx.batch.session.scalars(
        select(Ticket)
        .where(Ticket.citizen_id == citizen.id, Ticket.status.not_in(_CLOSED))
        .order_by(Ticket.id.desc())
        .limit(20)
    )
    tickets = list(found)
    for ticket in tickets:
        ctx.batch.tickets.setdefault(ticket.number, ticket)
    return [ctx.batch.tickets[t.number] for t in tickets]


async def _own_ticket(ctx: Context, number: str) -> Ticket | None:
    """The sender's ticket: their citizen's, or one giving as its contact a phone the channel
    vouches is the sender's (a call from that number)."""
    ticket = await ctx.batch.ticket(number)
    citizen = ctx.citizen
    if ticket is None or citizen is None:
        return None
    if ticket.citizen_id == citizen.id:
        return ticket
    vouched = ctx.message.vouched_phone
    return ticket if vouched and ticket.contact_phone == vouched else None


async def apply_opt_out(ctx: Context) -> None:
    """TD stops non-essential SMS to that number until it says 开通/START."""
    if ctx.intent not in (Intent.OPT_OUT, Intent.OPT_IN):
        return
    identity = ctx.batch.identities.get(
        (ctx.message.sender.kind.value, ctx.message.sender.account, ctx.message.sender.value)
    )
    if identity is None:
        return
    identity.opted_out_at = ctx.batch.clock() if ctx.intent is Intent.OPT_OUT else None
    ctx.outcome_note = ctx.intent.value


async def record_bounce(ctx: Context) -> None:
    """A bounce of one of our mails is a failed delivery on its ticket, visible to staff."""
    if ctx.outcome_note != "automated" or ctx.ticket is None:
        return
    bounce = ctx.message.fields.get("bounce") or {}
    ctx.batch.events.append(
        add_event(
            ctx.batch.session,
            ctx.ticket,
            EventKind.DELIVERY_FAILED,
            at=ctx.batch.clock(),
            public=False,
            message=ctx.record,
            data={
                "channel": ctx.message.channel,
                "reason": "bounce",
                "recipients": bounce.get("recipients", []),
                "original_message_id": bounce.get("original_message_id"),
            },
        )
    )
