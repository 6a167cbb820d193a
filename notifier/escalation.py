"""The escalation ladder: orders nobody acts on go up, one level at a time.

An order still not accepted (dispatched, not taken up) past its acceptance limit alerts the
department's lead (`Staff.lead`) after `lead_after`, then the hotline's supervisors after
`supervisor_after`. An overdue order goes up one level every `overdue_step_days` working days
(the official calendar): first the lead, then the supervisors; on the day it turns red the
department's staff already get the red alert (`notifier.deadlines`). Rules are per department
(`notify.staff.departments`). Each (kind, ticket, level, limit) is planned once: a Redis marker
is set before enqueueing and the job keys repeat it, so the delivery row and the notifier's
send state make sure nothing goes twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import Role, TicketStatus
from intake.domain.models import Staff, Ticket
from intake.triage.workdays import WorkCalendar, default_calendar
from notifier.context import JobContext
from notifier.jobs import STAFF, JobSpec
from notifier.routing import staff_routes
from notifier.staff_alerts import EscalationRule, StaffAlertSettings

log = logging.getLogger(__name__)

MARK_TTL = 60 * 86400
LEAD, SUPERVISOR = "lead", "supervisor"


async def leads(session: AsyncSession, department: str | None) -> list[Staff]:
    found = await session.scalars(
        select(Staff).where(
            Staff.department == department, Staff.lead.is_(True), Staff.active.is_(True)
        )
    )
    return [s for s in found if staff_routes(s)]


async def supervisors(session: AsyncSession) -> list[Staff]:
    found = await session.scalars(
        select(Staff).where(Staff.role == Role.SUPERVISOR.value, Staff.active.is_(True))
    )
    return [s for s in found if staff_routes(s)]


def accept_levels(rule: EscalationRule, ticket: Ticket, now: datetime) -> list[str]:
    assert ticket.accept_due_at is not None
    late = now - ticket.accept_due_at
    return [
        lvl
        for lvl, after in ((LEAD, rule.lead_after), (SUPERVISOR, rule.supervisor_after))
        if late >= after
    ]


def overdue_levels(
    rule: EscalationRule, ticket: Ticket, now: datetime, calendar: WorkCalendar
) -> list[str]:
    assert ticket.due_at is not None
    steps = int(calendar.working_days_between(ticket.due_at, now) // rule.overdue_step_days)
    return [LEAD, SUPERVISOR][: max(0, min(steps, 2))]


class Escalator:
    def __init__(
        self,
        jc: JobContext,
        redis: Redis,
        settings: StaffAlertSettings | None = None,
        *,
        calendar: WorkCalendar | None = None,
    ) -> None:
        gate = jc.staff_gate
        self.jc, self._redis = jc, redis
        self.settings = settings or (gate.settings if gate else StaffAlertSettings())
        self._calendar = calendar

    async def scan(self) -> int:
        """Enqueue every escalation now due; returns how many alerts were planned."""
        now, limit = self.jc.clock(), self.settings.escalation_scan_limit
        calendar = self._calendar or default_calendar()
        planned = 0
        async with self.jc.db.read() as session:
            unaccepted = await session.scalars(
                select(Ticket)
                .where(
                    Ticket.status == TicketStatus.DISPATCHED.value,
                    Ticket.accept_due_at.is_not(None),
                    Ticket.accept_due_at <= now,
                    Ticket.department.is_not(None),
                )
                .order_by(Ticket.accept_due_at)
                .limit(limit)
            )
            for ticket in list(unaccepted):
                rule = self.settings.rule(ticket.department)
                if rule.enabled and ticket.accept_due_at is not None:
                    fact = int(ticket.accept_due_at.timestamp())
                    for level in accept_levels(rule, ticket, now):
                        planned += await self._plan(session, ticket, "accept", level, fact)
            overdue = await session.scalars(
                select(Ticket)
                .where(
                    Ticket.status != TicketStatus.CLOSED.value,
                    Ticket.due_at.is_not(None),
                    Ticket.due_at <= now,
                    Ticket.department.is_not(None),
                    Ticket.waiting_since.is_(None),
                )
                .order_by(Ticket.due_at)
                .limit(limit)
            )
            for ticket in list(overdue):
                rule = self.settings.rule(ticket.department)
                if rule.enabled and ticket.due_at is not None:
                    fact = int(ticket.due_at.timestamp())
                    for level in overdue_levels(rule, ticket, now, calendar):
                        planned += await self._plan(session, ticket, "overdue", level, fact)
        if planned:
            log.info("escalation scan: %d alerts", planned)
        return planned

    async def _plan(
        self, session: AsyncSession, ticket: Ticket, kind: str, level: str, fact: int
    ) -> int:
        mark = f"{self.jc.queue.namespace('escalation')}:{kind}:{ticket.number}:{level}:{fact}"
        if not await self._redis.set(mark, "1", nx=True, ex=MARK_TTL):
            return 0
        members = await (
            leads(session, ticket.department) if level == LEAD else supervisors(session)
        )
        for member in members:
            await self.jc.enqueue(
                JobSpec(
                    key=f"escalate:{kind}:{level}:{ticket.number}:{fact}:{member.id}",
                    template=f"staff_escalated_{kind}",
                    number=ticket.number,
                    audience=STAFF,
                    staff_id=member.id,
                    urgent=True,
                    extra={"level": level},
                )
            )
        log.info(
            "ticket=%s %s escalated to %s (%d staff)", ticket.number, kind, level, len(members)
        )
        return len(members)
