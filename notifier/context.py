"""What every job needs, opened once per notifier: settings, stores, queue, clock, renderer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from saq.job import Job

from intake.catalog import Catalog
from intake.domain.clock import Clock
from intake.ingest.send_state import SendState
from intake.privacy.pseudonyms import pseudonym
from intake.ratelimit.buckets import Bucket
from intake.storage.database import Database
from intake.texts import Renderer
from notifier.claim import Claims
from notifier.config import NotifySettings
from notifier.digest import StaffGate
from notifier.jobs import JobSpec
from notifier.models import Prompt
from notifier.queue import ClockedQueue
from notifier.records import Ledger
from notifier.routing import Route

DELIVER = "deliver"
EXPIRE = "expire_prompt"


def not_before(at: datetime) -> float:
    """`at` as saq's due time: epoch seconds rounded up to the millisecond."""
    return math.ceil(at.timestamp() * 1000) / 1000


@dataclass
class JobContext:
    db: Database
    cfg: NotifySettings
    clock: Clock
    queue: ClockedQueue
    state: SendState
    claims: Claims
    renderer: Renderer
    catalog: Catalog
    public_url: str
    secret: str
    staff_gate: StaffGate | None = None  # digests and staff working hours (notifier.digest)

    async def enqueue(
        self, spec: JobSpec, *, at: datetime | None = None, queue_key: str | None = None
    ) -> bool:
        """Enqueue once per key (saq ignores a key that is still waiting or running)."""
        (new,) = await self.queue.enqueue_many([self._job(spec, at=at, queue_key=queue_key)])
        return new

    async def enqueue_all(self, specs: list[JobSpec]) -> list[bool]:
        """`enqueue` for many jobs in one call (a read of domain events plans many)."""
        return await self.queue.enqueue_many([self._job(spec) for spec in specs])

    def _job(
        self, spec: JobSpec, *, at: datetime | None = None, queue_key: str | None = None
    ) -> Job:
        """A due time keeps its milliseconds: rounded to the second, a job would go out early."""
        when = at or spec.at
        return Job(
            function=DELIVER,
            key=queue_key or spec.key,
            scheduled=not_before(when) if when and when > self.clock() else 0,
            retries=self.cfg.max_attempts,
            timeout=self.cfg.job_timeout,
            ttl=self.cfg.job_ttl,
            kwargs={"spec": spec.kwargs()},
        )

    async def enqueue_expiry(self, prompt: Prompt) -> None:
        await self.queue.enqueue(
            EXPIRE,
            key=f"expire:{prompt.id}",
            scheduled=not_before(prompt.expires_at),  # earlier, it would find nothing to expire
            retries=self.cfg.max_attempts,
            ttl=self.cfg.job_ttl,
            prompt_id=prompt.id,
        )

    def buckets(self, route: Route) -> list[tuple[str, Bucket]]:
        found = [(f"channel:{route.channel}", b) for b in [self.cfg.rates.get(route.channel)] if b]
        who = pseudonym(route.recipient.value, secret=self.secret)  # no phone in a key's name
        found.append((f"to:{route.channel}:{who}", self.cfg.recipient_rate))
        return found

    async def after_sent(self, spec: JobSpec, context: dict[str, Any], ledger: Ledger) -> None:
        """A prompt that went out gets its reminder and its expiry; a reminder is noted.

        Runs before the batch's commit: the enqueues are no-ops when a re-run repeats them.
        """
        prompt_id = context.get("prompt_id")
        if prompt_id is None:
            return
        if spec.template == "reminder":
            ledger.mark_reminded(prompt_id)
            return
        prompt: Prompt = context["prompt"]
        await self.enqueue_expiry(prompt)
        remind_at = prompt.expires_at - self.cfg.reminder_before
        if spec.template == "survey" and remind_at > self.clock():
            reminder = JobSpec(
                key=f"reminder:{prompt.id}",
                template="reminder",
                number=spec.number,
                prompt_id=prompt.id,
                at=remind_at,
            )
            await self.enqueue(reminder)
