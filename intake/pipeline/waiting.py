"""The citizen answered a handler's question: the stopped deadline clock runs again.

While a ticket waits for the citizen (`waiting_since`, set by the staff action `ask`), its
working time does not count; the answer moves `due_at` on by the working time spent waiting
and records how much on the ticket, so the extension is visible and counted.
"""

from __future__ import annotations

from intake.domain.enums import EventKind, Intent
from intake.domain.events import add_event
from intake.pipeline.context import Context
from intake.triage.workdays import DAY, WorkCalendar, default_calendar


async def resume_clock(ctx: Context) -> None:
    ticket = ctx.ticket
    if ctx.intent is not Intent.FOLLOW_UP or ticket is None or ticket.waiting_since is None:
        return
    calendar: WorkCalendar = ctx.batch.triage.calendar if ctx.batch.triage else default_calendar()
    now = ctx.message.received_at
    since = ticket.waiting_since
    paused = calendar.working_time_between(since, now) if now > since else DAY * 0
    previous_due = ticket.due_at
    if previous_due is not None and paused:
        ticket.due_at = calendar.add_working_days(previous_due, paused / DAY)
    ticket.waiting_since = None
    ctx.batch.events.append(
        add_event(
            ctx.batch.session,
            ticket,
            EventKind.INFO_RECEIVED,
            at=ctx.batch.clock(),
            actor_kind="citizen",
            public=False,
            message=ctx.record,
            data={
                "waiting_since": since.isoformat(),
                "paused_working_days": round(paused / DAY, 3),
                "due_before": previous_due.isoformat() if previous_due else None,
                "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
            },
        )
    )
