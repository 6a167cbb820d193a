"""What the core made of one inbound message, for channels that answer in the same breath.

WeChat must answer within five seconds with a passive reply ("your ticket number is …"). The
worker stores each message's outcome in Redis right after its commit; the channel waits for
it a bounded time (`intake.ingest.outcome_waiter`) and otherwise answers later through the notifier.
Every retry of the same message reads the same stored outcome, so retries get identical answers.
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


def outcome_key(keys: Keys, channel: str, external_id: str) -> str:
    return f"{keys.prefix}outcome:{channel}:{external_id}"


def store(pipe: Any, keys: Keys, ctx: Context) -> None:
    """Queue the outcome on a Redis pipeline; a duplicate delivery keeps the first outcome."""
    if ctx.stopped == "duplicate delivery":
        return
    key = outcome_key(keys, ctx.message.channel, ctx.message.external_id)
    pipe.set(key, orjson.dumps(Outcome.of(ctx)), ex=OUTCOME_TTL_S)


def queue_reply(pipe: Any, keys: Keys, ctx: Context, text: str | None) -> None:
    """Queue the answer to this message for the notifier, in the acknowledging transaction."""
    if not text or ctx.stopped == "duplicate delivery":
        return
    sender = ctx.message.sender
    pipe.xadd(
        f"{keys.prefix}stream:replies",
        {
            "channel": ctx.message.channel,
            "kind": sender.kind.value,
            "value": sender.value,
            "account": sender.account,
            "text": text,
            "job_key": f"reply:{ctx.message.channel}:{ctx.message.external_id}",
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
