"""What the core made of one inbound message, for channels that answer in the same breath.

WeChat must answer within five seconds with a passive reply ("your ticket number is …"). The
worker stores each message's outcome in Redis right after its commit; the channel waits for
it a bounded time (`intake.ingest.outcome_waiter`) and otherwise answers later through the notifier.
Every retry of the same message reads the same stored outcome, so retries get identical answers.

Channels without a synchronous answer (SMS, e-mail …) get theirs from the notifier: the core
queues WHAT to say (a template of the catalogue and its facts, `Reply`), never rendered text,
in the same Redis call that acknowledges the message (`queue_reply`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from intake.domain.enums import Resolution
from intake.pipeline.context import Context
from intake.redis.keys import Keys

OUTCOME_TTL_S = 86_400


@dataclass(frozen=True)
class Outcome:
    intent: str
    ticket: str | None = None
    query_code: str | None = None
    status: str | None = None
    reply: str | None = None  # what triage says to tell the citizen at once (emergency, KB …)
    note: str | None = None  # e.g. why nothing was opened
    tickets: list[dict[str, str]] = field(default_factory=list)  # open ones, for status queries
    answered_event: str | None = None  # the close event when triage answered it at once
    answered_job: str | None = None  # its notifier job and template: "closed" or "declined"
    # what a text about the ticket may name besides its number (`intake.texts.facts`)
    title: str | None = None
    request_type: str | None = None
    due: str | None = None  # ISO 8601

    @classmethod
    def of(cls, ctx: Context) -> Outcome:
        ticket = ctx.ticket
        assessment = ctx.assessment
        reply = ctx.reply_text
        if (
            reply is None
            and assessment is not None
            and (ticket is None or ticket.status == "closed" or assessment.emergency is not None)
        ):
            reply = assessment.immediate_reply
        return cls(
            intent=(ctx.intent.value if ctx.intent else "ignored"),
            ticket=ticket.number if ticket else None,
            query_code=ticket.query_code if ticket else None,
            status=ticket.status if ticket else None,
            reply=reply,
            note=ctx.outcome_note,
            tickets=ctx.open_tickets,
            answered_event=str(ctx.answered.id) if ctx.answered and ctx.answered.id else None,
            answered_job=_answered_job(ctx),
            title=ticket.title if ticket else None,
            request_type=ticket.request_type if ticket else None,
            due=ticket.due_at.isoformat() if ticket and ticket.due_at else None,
        )


def _answered_job(ctx: Context) -> str | None:
    """The notifier's job for triage's answer at once: a 不予受理 is `declined`, else `closed`."""
    if ctx.answered is None:
        return None
    declined = (ctx.answered.data or {}).get("resolution") == Resolution.DECLINED.value
    return "declined" if declined else "closed"


@dataclass(frozen=True)
class Reply:
    """What to tell the citizen: a template of the catalogue (`intake.texts`) and its facts,
    JSON values only, so that the notifier renders it as the channel's own answer would."""

    template: str
    facts: dict[str, Any] = field(default_factory=dict)


def outcome_key(keys: Keys, channel: str, external_id: str) -> str:
    """Where one message's outcome is stored (`Keys.outcome`), for the channels' waiters."""
    return keys.outcome(channel, external_id)


def store(pipe: Any, keys: Keys, ctx: Context) -> None:
    """Queue the outcome on a Redis pipeline; a duplicate delivery keeps the first outcome."""
    if ctx.stopped == "duplicate delivery":
        return
    key = keys.outcome(ctx.message.channel, ctx.message.external_id)
    pipe.set(key, orjson.dumps(Outcome.of(ctx)), ex=OUTCOME_TTL_S)


def reply_job_key(channel: str, external_id: str) -> str:
    """The answer's job and send-state key: a channel that answered in the same breath (the
    Telegram bot) marks it sent, so the notifier does not answer again."""
    return f"reply:{channel}:{external_id}"


def queue_reply(pipe: Any, keys: Keys, ctx: Context, reply: Reply | None) -> None:
    """Queue the answer to this message for the notifier, in the acknowledging transaction:
    whom to answer, the template and its facts (rendered by the notifier)."""
    if reply is None or ctx.stopped == "duplicate delivery":
        return
    sender = ctx.message.sender
    pipe.xadd(
        keys.replies,
        {
            "channel": ctx.message.channel,
            "kind": sender.kind.value,
            "value": sender.value,
            "account": sender.account,
            "template": reply.template,
            "facts": orjson.dumps(reply.facts),
            "job_key": reply_job_key(ctx.message.channel, ctx.message.external_id),
            "ticket": ctx.ticket.number if ctx.ticket else "",
            **_thread_of(ctx),
        },
    )


def _thread_of(ctx: Context) -> dict[str, str]:
    """An e-mail answer threads under the citizen's mail: its Message-ID and References."""
    fields = ctx.message.fields
    message_id = fields.get("message_id")
    if not message_id:
        return {}
    references = fields.get("references") or ()
    return {"in_reply_to": str(message_id), "references": " ".join(map(str, references))}
