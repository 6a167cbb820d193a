"""Ending a wait for the citizen: the stopped deadline clock runs again.

Whatever ends the wait (the citizen's answer, a staff reply, closing, reopening, or 结束等待
without an answer), the working time spent waiting does not count against the department:
`due_at` moves on by it, and `waiting_since` is cleared so that the deadline scan sees the
ticket again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intake.domain.models import Ticket
from intake.triage.workdays import DAY, WorkCalendar, default_calendar


def stop_waiting(
    ticket: Ticket, *, now: datetime, calendar: WorkCalendar | None = None
) -> dict[str, Any]:
    """Clear the wait and move the deadline; the facts for the event, empty if none was on."""
    since = ticket.waiting_since
    if since is None:
        return {}
    calendar = calendar or default_calendar()
    paused = calendar.working_time_between(since, now) if now > since else DAY * 0
    previous_due = ticket.due_at
    if previous_due is not None and paused:
        ticket.due_at = calendar.add_working_days(previous_due, paused / DAY)
    ticket.waiting_since = None
    return {
        "waiting_since": since.isoformat(),
        "paused_working_days": round(paused / DAY, 3),
        "due_before": previous_due.isoformat() if previous_due else None,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
    }
