"""Deadline alerts for department staff: yellow before `due_at`, red once it has passed.

`due_at` is computed by triage on working days (the official holiday calendar); this scan
takes it as given and only compares it with the clock. Each (colour, ticket, due_at) is
alerted once: a Redis marker is set before enqueueing, and the job keys repeat it, so a scan
every few minutes costs one query and a few SET NX calls.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from sqlalchemy import select

from intake.domain.enums import TicketStatus
from intake.domain.models import Ticket
from notifier.context import JobContext
from notifier.jobs import STAFF, JobSpec
from notifier.routing import department_staff

log = logging.getLogger(__name__)

SCAN_LIMIT = 2000
MARK_TTL = 60 * 86400


async def scan_deadlines(jc: JobContext, redis: aioredis.Redis) -> int:
    """Enqueue the yellow and red alerts now due; returns how many jobs were planned."""
    now = jc.clock()
    planned = 0
    async with jc.db.read() as session:
        tickets = list(
            await session.scalars(
                select(Ticket)
                .where(
                    Ticket.status != TicketStatus.CLOSED.value,
                    Ticket.due_at.is_not(None),
                    Ticket.due_at <= now + jc.cfg.yellow_before,
                    Ticket.department.is_not(None),
                    Ticket.waiting_since.is_(None),  # the clock stops while the citizen is asked
                )
                .order_by(Ticket.due_at)
                .limit(SCAN_LIMIT)
            )
        )
        for ticket in tickets:
            assert ticket.due_at is not None
            colour = "red" if ticket.due_at <= now else "yellow"
            fact = f"{colour}:{ticket.number}:{int(ticket.due_at.timestamp())}"
            mark = f"{jc.queue.namespace('deadline')}:{fact}"
            if not await redis.set(mark, "1", nx=True, ex=MARK_TTL):
                continue
            for member in await department_staff(session, ticket.department):
                spec = JobSpec(
                    key=f"deadline:{fact}:{member.id}",
                    template=f"staff_{colour}",
                    number=ticket.number,
                    audience=STAFF,
                    staff_id=member.id,
                )
                await jc.enqueue(spec)
                planned += 1
    if planned:
        log.info("deadline scan: %d alerts", planned)
    return planned
