"""The saq job functions: `deliver_batch` (messages, a batch at a time) and `expire_prompt`.

A job re-run after a crash, a sweep or a duplicate enqueue starts by asking the delivery
record; a final one makes the run a no-op. A batch is read with one query per table, its jobs
then run side by side (each its own routes, in order), and their outcomes are committed
together before saq hears how each job ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from typing import Any

from saq.job import Job
from sqlalchemy import update

from intake.domain.enums import TicketStatus
from notifier.compose import base_context, prompt_context
from notifier.context import JobContext
from notifier.delivery import Attempt, Deliverer, RetryLater
from notifier.facts import TicketFacts
from notifier.jobs import JobSpec
from notifier.lookup import Batch, load_batch
from notifier.models import FINAL_DELIVERY, DeliveryStatus, Prompt, PromptKind, PromptStatus
from notifier.prompts import ensure_prompt, load_prompt
from notifier.records import Ledger, Outcome
from notifier.routing import Route

log = logging.getLogger(__name__)

PROMPT_OF = {"survey": PromptKind.SURVEY, "dimensions": PromptKind.DIMENSIONS}


def rounds(specs: list[JobSpec]) -> list[list[int]]:
    """Indexes of the specs in rounds of distinct job keys (a key's second job runs after)."""
    seen: Counter[str] = Counter()
    found: dict[int, list[int]] = defaultdict(list)
    for index, spec in enumerate(specs):
        found[seen[spec.key]].append(index)
        seen[spec.key] += 1
    return [found[r] for r in sorted(found)]


class JobRunner:
    def __init__(self, jc: JobContext, deliverer: Deliverer) -> None:
        self.jc = jc
        self.deliverer = deliverer

    async def deliver_batch(self, jobs: list[Job]) -> list[Any]:
        """saq's `deliver` jobs: per job its result, or the `RetryLater` saq is to honour."""
        specs = [JobSpec.from_kwargs((job.kwargs or {})["spec"]) for job in jobs]
        outcomes: list[Any] = [None] * len(jobs)
        for indexes in rounds(specs):
            done = await self.run([specs[i] for i in indexes], [jobs[i] for i in indexes])
            for i, outcome in zip(indexes, done, strict=True):
                outcomes[i] = outcome
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, RetryLater):
                job.retry_delay, job.retry_backoff = outcome.delay, False
                job.retries += 0 if outcome.counts else 1
        return outcomes

    async def run(self, specs: list[JobSpec], jobs: list[Job]) -> list[Any]:
        """Jobs with distinct keys: one read, the sends side by side, one commit."""
        found = await load_batch(self.jc.db, specs)
        ledger = Ledger()
        runs = (self._one(spec, job, found, ledger) for spec, job in zip(specs, jobs, strict=True))
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        await ledger.commit(self.jc.db)
        return outcomes

    async def _one(
        self,
        spec: JobSpec,
        job: Job,
        found: Batch,
        ledger: Ledger,
    ) -> str:
        status = found.statuses.get(spec.key)
        if status in FINAL_DELIVERY:
            return f"already {status}"
        ticket = found.tickets.get(spec.number)
        if ticket is None:
            log.warning("job=%s: no ticket %s", spec.key, spec.number)
            return "no ticket"
        routes = found.routes(spec, ticket)
        context = base_context(spec, ticket, self.jc.catalog, self.jc.cfg.zone)
        skip = await self._skip(spec, ticket, context, routes)
        if skip:
            outcome = Outcome(DeliveryStatus.SKIPPED, error=skip, attempt=False)
            ledger.add(spec, ticket.id, outcome, now=self.jc.clock())
            log.info("job=%s ticket=%s skipped: %s", spec.key, spec.number, skip)
            return "skipped"
        gate, member = self.jc.staff_gate, found.staff.get(spec.staff_id or 0)
        held = gate and await gate.hold(self.jc, spec, ticket, context, ledger, member)
        if held:
            log.info("job=%s ticket=%s held: %s", spec.key, spec.number, held)
            return "held"
        attempt = Attempt(
            spec,
            ticket,
            context,
            ledger,
            attempts=job.attempts or 1,
            max_attempts=job.retries or 1,
            thread=found.mail_thread(spec, ticket),
        )
        await self.deliverer.run_routes(attempt, routes or [])
        return "done"

    async def _skip(
        self,
        spec: JobSpec,
        ticket: TicketFacts,
        context: dict[str, Any],
        routes: list[Route] | None,
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
            if spec.template == "survey" and prompt.status == PromptStatus.ANSWERED.value:
                return "the citizen rated the ticket before its callback (status page)"
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
