"""The saq job functions: `deliver` (one message) and `expire_prompt`.

A job re-run after a crash, a sweep or a duplicate enqueue starts by asking the delivery
record; a final one makes the run a no-op.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from intake.enums import TicketStatus
from intake.models import Staff, Ticket
from notifier.compose import base_context, prompt_context
from notifier.context import JobContext
from notifier.delivery import Attempt, Deliverer, RetryLater
from notifier.jobs import CITIZEN, JobSpec
from notifier.models import FINAL_DELIVERY, DeliveryStatus, Prompt, PromptKind, PromptStatus
from notifier.prompts import ensure_prompt, load_prompt
from notifier.records import Outcome, delivery_status, record
from notifier.routing import Route, citizen_routes, staff_routes

log = logging.getLogger(__name__)

PROMPT_OF = {"survey": PromptKind.SURVEY, "dimensions": PromptKind.DIMENSIONS}


class JobRunner:
    def __init__(self, jc: JobContext, deliverer: Deliverer) -> None:
        self.jc = jc
        self.deliverer = deliverer

    async def deliver(self, ctx: dict[str, Any], *, spec: dict[str, Any]) -> str:
        job = ctx.get("job")
        try:
            return await self.run(JobSpec.from_kwargs(spec), job)
        except RetryLater as exc:
            if job is not None:
                job.retry_delay, job.retry_backoff = exc.delay, False
                job.retries += 0 if exc.counts else 1
            raise

    async def run(self, spec: JobSpec, job: Any = None) -> str:
        status = await delivery_status(self.jc.db, spec.key)
        if status in FINAL_DELIVERY:
            return f"already {status}"
        async with self.jc.db.read() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.number == spec.number))
            if ticket is None:
                log.warning("job=%s: no ticket %s", spec.key, spec.number)
                return "no ticket"
            routes = await self._routes(session, spec, ticket)
        context = base_context(spec, ticket, self.jc.catalog, self.jc.cfg.zone)
        skip = await self._skip(spec, ticket, context, routes)
        if skip:
            outcome = Outcome(DeliveryStatus.SKIPPED, error=skip, attempt=False)
            await record(self.jc.db, spec, ticket, outcome, now=self.jc.clock())
            log.info("job=%s ticket=%s skipped: %s", spec.key, spec.number, skip)
            return "skipped"
        attempt = Attempt(
            spec,
            ticket,
            context,
            attempts=getattr(job, "attempts", 1) or 1,
            max_attempts=getattr(job, "retries", 1) or 1,
        )
        await self.deliverer.run_routes(attempt, routes or [])
        return "done"

    async def _routes(self, session: Any, spec: JobSpec, ticket: Ticket) -> list[Route] | None:
        if spec.audience == CITIZEN:
            return await citizen_routes(session, ticket)
        staff = await session.get(Staff, spec.staff_id)
        return staff_routes(staff) if staff is not None and staff.active else None

    async def _skip(
        self, spec: JobSpec, ticket: Ticket, context: dict[str, Any], routes: list[Route] | None
    ) -> str | None:
        """Why this message is no longer wanted; fills in the prompt when there is one."""
        if routes is None:
            return "the staff member is gone or inactive"
        if spec.template == "survey" and ticket.status != TicketStatus.CLOSED.value:
            return "the ticket was reopened before its callback"
        if spec.template == "reminder":
            prompt = await load_prompt(self.jc.db, spec.prompt_id or 0)
            if prompt is None or prompt.status != PromptStatus.PENDING.value:
                return "the prompt was answered or expired"
        elif spec.template in PROMPT_OF:
            prompt = await ensure_prompt(
                self.jc.db,
                job_key=spec.key,
                ticket=ticket,
                kind=PROMPT_OF[spec.template],
                channel=routes[0].channel if routes else None,
                cfg=self.jc.cfg,
                now=self.jc.clock(),
            )
        else:
            return None
        context.update(prompt_context(prompt, self.jc.cfg.zone), prompt=prompt)
        return None

    async def expire_prompt(self, ctx: dict[str, Any], *, prompt_id: int) -> str:
        """A prompt still pending at its expiry is closed; later answers get a polite reply."""
        async with self.jc.db.write() as session, session.begin():
            result = await session.execute(
                update(Prompt)
                .where(
                    Prompt.id == prompt_id,
                    Prompt.status == PromptStatus.PENDING.value,
                    Prompt.expires_at <= self.jc.clock(),
                )
                .values(status=PromptStatus.EXPIRED.value)
            )
        return "expired" if getattr(result, "rowcount", 0) else "nothing to expire"
