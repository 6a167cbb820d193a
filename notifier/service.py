"""The notifier process: event consumer, saq worker and deadline scan, over the core's parts.

The saq worker takes its jobs in batches (`notifier.batch_worker`): `job_batch` jobs per round
trip, as many batches at once as make up `concurrency` jobs in progress.

`run_notifier` is what `intake worker --only notifier` and `intake run` start, with the
`NotifierParts` the composition root picks out of its runtime. Tests open a
`Notifier` themselves and call `run_due()`, which does one round of everything on the
injected clock and returns when nothing due is left, instead of waiting for timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from intake.domain.clock import Clock
from intake.error_summary import describe
from intake.ingest.send_state import SendState
from intake.interfaces import Sender
from intake.ratelimit.buckets import TokenBuckets
from intake.resilience import OutageGuard, is_outage, supervise, wait_or_stop
from intake.texts import Renderer
from notifier.batch_worker import BatchWorker, one_by_one
from notifier.briefing_settings import load_briefing_settings
from notifier.briefings import BRIEFING, BriefingMailer
from notifier.claim import Claims
from notifier.config import NotifySettings, load_notify_settings
from notifier.consumer import EventConsumer
from notifier.context import DELIVER, EXPIRE, JobContext
from notifier.deadlines import scan_deadlines
from notifier.delivery import Deliverer, RetryLater
from notifier.delivery_reports import DeliveryReports
from notifier.digest import StaffGate
from notifier.instant import INSTANT, InstantReplies
from notifier.morning import staff_scans
from notifier.parts import NotifierParts
from notifier.queue import ClockedQueue, open_queue
from notifier.worker import JobRunner

log = logging.getLogger(__name__)

# On stop, batches in progress get this long to finish before they are cancelled (a cancelled
# send is recorded "unconfirmed"); an idle worker notices the stop within its 1 s dequeue wait.
STOP_GRACE_S = 10


class _QuietRetries(logging.Filter):
    """saq logs every exception from a job with its traceback; a planned retry is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, RetryLater)


class Notifier:
    def __init__(
        self,
        parts: NotifierParts,
        senders: dict[str, Sender],
        *,
        cfg: NotifySettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.parts = parts
        self.cfg = cfg or load_notify_settings(parts.notify)
        self.clock = clock or parts.clock
        redis, keys = parts.redis, parts.keys
        self.queue: ClockedQueue = open_queue(parts.redis_url, keys=keys, clock=self.clock)
        state = SendState(redis, keys=keys)
        limiter = TokenBuckets(redis, keys)
        self.jc = JobContext(
            db=parts.db,
            cfg=self.cfg,
            clock=self.clock,
            queue=self.queue,
            state=state,
            claims=Claims(redis, state=state, limiter=limiter),
            renderer=Renderer(override=self.cfg.templates_dir, default_lang=self.cfg.language),
            catalog=parts.catalog,
            public_url=parts.public_url,
            secret=parts.secret_key,
            staff_gate=StaffGate.open(
                redis, parts.notify, self.queue.namespace("digest"), self.cfg.zone
            ),
        )
        self.runner = JobRunner(self.jc, Deliverer(self.jc, senders))
        self.briefings = BriefingMailer(
            self.jc, redis, senders.get("email"), load_briefing_settings(parts.notify)
        )
        self.consumer = EventConsumer(redis=redis, keys=keys, db=parts.db, jc=self.jc, cfg=self.cfg)
        self.instant = InstantReplies(redis=redis, keys=keys, deliverer=self.runner.deliverer)
        self.worker = self._worker(dequeue_timeout=1.0)
        self.reports = DeliveryReports(redis=redis, keys=keys, db=parts.db, jc=self.jc)

    def _worker(self, *, dequeue_timeout: float) -> BatchWorker:
        """Batches of `job_batch` jobs, as many at once as make up `concurrency` jobs."""
        cfg = self.cfg
        worker = BatchWorker(
            self.queue,
            {
                DELIVER: self.runner.deliver_batch,
                INSTANT: one_by_one(self.instant.send),
                EXPIRE: one_by_one(self.runner.expire_prompt),
                BRIEFING: one_by_one(self.briefings.run_job),
            },
            batch=cfg.job_batch,
            concurrency=max(1, cfg.concurrency // cfg.job_batch),
            dequeue_timeout=dequeue_timeout,
            grace=STOP_GRACE_S,
            timers={"sweep": cfg.sweep_interval, "schedule": cfg.schedule_interval},
        )
        worker.SIGNALS = []  # the host process owns SIGTERM/SIGINT
        return worker

    async def close(self) -> None:
        await self.queue.disconnect()

    async def run(self, stop: asyncio.Event) -> None:
        saq_log = logging.getLogger("saq")
        quiet = _QuietRetries()
        saq_log.addFilter(quiet)
        loops = {  # each restarted after a pause if it dies of a bug
            "notifier-events": lambda: self.consumer.run(stop),
            "notifier-deadlines": lambda: self._deadline_loop(stop),
            "notifier-instant-replies": lambda: self.instant.run(stop),
            "notifier-delivery-reports": lambda: self.reports.run(stop),
        }
        tasks = [
            asyncio.create_task(self.worker.start(), name="notifier-jobs"),
            *(asyncio.create_task(supervise(n, loop, stop), name=n) for n, loop in loops.items()),
        ]
        try:
            await stop.wait()
        finally:
            await self.worker.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            saq_log.removeFilter(quiet)

    async def _deadline_loop(self, stop: asyncio.Event) -> None:
        outages = OutageGuard("deadline scan", logger=log)
        while not stop.is_set():
            try:
                await scan_deadlines(self.jc, self.parts.redis)
                await staff_scans(self.jc, self.parts.redis)
                await self.briefings.scan()
                outages.ok()
            except Exception as exc:
                if is_outage(exc):
                    await outages.pause(exc, stop)
                    continue
                log.warning("deadline scan: %s", describe(exc))
            await wait_or_stop(stop, self.cfg.deadline_scan.total_seconds())

    async def run_due(self, *, max_rounds: int = 100) -> int:
        """One pass of everything due now (events, scheduled jobs, retries); returns jobs run.

        For tests and tools: no timers, no sleeping; the clock decides what is due.
        """
        await self.consumer.ensure_group()
        await self.instant.ensure_group()
        worker = self._worker(dequeue_timeout=0.01)
        ran = 0
        for _ in range(max_rounds):
            await self.parts.relay.drain()
            while await self.consumer.poll():
                pass
            while await self.instant.poll():
                pass
            while await self.reports.poll():
                pass
            await self.queue.schedule(lock=0)
            if not await self.queue.count("queued"):
                break
            while await self.queue.count("queued"):
                ran += await worker.process()
        return ran

    async def sweep(self) -> list[str]:
        """Re-queue jobs whose worker died (active longer than their timeout)."""
        return await self.queue.sweep(lock=1, abort=0.1)


async def run_notifier(
    parts: NotifierParts, stop: asyncio.Event, senders: dict[str, Sender]
) -> None:
    """The notifier until `stop` is set: consumer, job worker and deadline scan."""
    notifier = Notifier(parts, senders)
    log.info("notifier: channels %s", ", ".join(sorted(senders)) or "none")
    try:
        await notifier.run(stop)
    finally:
        await notifier.close()
