"""The morning list: on working days, each handler hears which of their department's tickets
are due today and which are overdue, in one message.

Runs from the notifier's periodic scan; once `morning_at` (local time) has passed on a working
day, a Redis marker for the day lets one process plan it, and the job key
(`morning:<day>:<staff>`) keeps it to one message per person and day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from intake.domain.enums import Role, TicketStatus
from intake.domain.models import Staff, Ticket
from intake.triage.workdays import WorkCalendar, default_calendar
from notifier.context import JobContext
from notifier.digest import MORNING
from notifier.escalation import Escalator
from notifier.jobs import STAFF, JobSpec
from notifier.routing import staff_routes
from notifier.staff_alerts import StaffAlertSettings

log = logging.getLogger(__name__)

MARK_TTL = 3 * 86400
TOP = 10


def morning_extra(tickets: list[Ticket], end_of_day: datetime, now: datetime) -> dict[str, object]:
    overdue = [t.number for t in tickets if t.due_at is not None and t.due_at <= now]
    today = [t.number for t in tickets if t.due_at is not None and now < t.due_at <= end_of_day]
    return {
        "overdue_count": len(overdue),
        "today_count": len(today),
        "overdue_numbers": "、".join(overdue[:TOP]),
        "today_numbers": "、".join(today[:TOP]),
    }


class MorningList:
    def __init__(
        self,
        jc: JobContext,
        redis: Redis,
        settings: StaffAlertSettings,
        *,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.jc, self._redis, self.settings = jc, redis, settings
        self._calendar = calendar

    async def scan(self) -> int:
        at = self.settings.morning_at
        now = self.jc.clock()
        local = now.astimezone(self.jc.cfg.zone)
        calendar = self._calendar or default_calendar()
        if at is None or local.time() < at or not calendar.is_working_day(local.date()):
            return 0
        day = f"{local:%Y%m%d}"
        if not await self._redis.set(
            f"{self.jc.queue.namespace('morning')}:{day}", "1", nx=True, ex=MARK_TTL
        ):
            return 0
        end_of_day = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        planned = 0
        async with self.jc.db.read() as session:
            handlers = await session.scalars(
                select(Staff).where(Staff.role == Role.HANDLER.value, Staff.active.is_(True))
            )
            by_department: dict[str, list[Staff]] = {}
            for member in handlers:
                if member.department and staff_routes(member):
                    by_department.setdefault(member.department, []).append(member)
            for department, members in by_department.items():
                tickets = list(
                    await session.scalars(
                        select(Ticket)
                        .where(
                            Ticket.department == department,
                            Ticket.status != TicketStatus.CLOSED.value,
                            Ticket.due_at.is_not(None),
                            Ticket.due_at < end_of_day,
                            Ticket.waiting_since.is_(None),
                        )
                        .order_by(Ticket.due_at)
                        .limit(500)
                    )
                )
                if not tickets:
                    continue
                extra = morning_extra(tickets, end_of_day, now)
                for member in members:
                    await self.jc.enqueue(
                        JobSpec(
                            key=f"morning:{day}:{member.id}",
                            template=MORNING,
                            number=tickets[0].number,
                            audience=STAFF,
                            staff_id=member.id,
                            extra=extra,
                        )
                    )
                    planned += 1
        log.info("morning list %s: %d handlers", day, planned)
        return planned


async def staff_scans(jc: JobContext, redis: Redis) -> int:
    """The notifier's periodic staff work: the escalation ladder and the morning list."""
    escalator = Escalator(jc, redis)
    planned = await escalator.scan()
    return planned + await MorningList(jc, redis, escalator.settings).scan()
