"""A call the agent answered at once (直接答复): the new ticket closes with the agent's answer.

Recorded as every direct answer is (`resolution: direct_answer` on the closed event, as the
knowledge base's own close and the staff `close` from accepted record it), under the agent's
name, so the notifier sends the answer by SMS and surveys the caller like anyone else, and the
reports count it as 直接答复.
"""

from __future__ import annotations

from typing import Any

from intake.calls.request import AGENT_ANSWER, FILED_BY
from intake.domain.enums import EventKind, Intent, Resolution, TicketStatus
from intake.domain.events import add_event
from intake.domain.models import Staff
from intake.pipeline.context import Context


async def close_answered_call(ctx: Context) -> None:
    answer = ctx.message.fields.get(AGENT_ANSWER)
    ticket = ctx.ticket
    if ctx.intent is not Intent.NEW_REQUEST or ticket is None or not isinstance(answer, dict):
        return
    if ticket.status != TicketStatus.RECEIVED.value or not answer.get("text"):
        return
    filed_by: dict[str, Any] = ctx.message.fields.get(FILED_BY) or {}
    staff_id = filed_by.get("staff_id")
    staff = await ctx.batch.session.get(Staff, staff_id) if isinstance(staff_id, int) else None
    now = ctx.batch.clock()
    ticket.status, ticket.closed_at, ticket.updated_at = TicketStatus.CLOSED.value, now, now
    event = add_event(
        ctx.batch.session,
        ticket,
        EventKind.CLOSED,
        at=now,
        actor=staff,
        actor_kind="staff",
        text=str(answer["text"]),
        message=ctx.record,
        data={
            "from": TicketStatus.RECEIVED.value,
            "to": TicketStatus.CLOSED.value,
            "direct_answer": True,
            "resolution": Resolution.DIRECT_ANSWER.value,
            "kb_entry": answer.get("kb_entry"),
            "channel": ctx.message.channel,
        },
    )
    ctx.answered = event
    ctx.batch.events.append(event)
