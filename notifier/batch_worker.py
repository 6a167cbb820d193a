"""saq's worker, taking its jobs in batches.

saq runs one job per dequeue: six Redis round trips and a task per message, which caps a
process at a few hundred deliveries a second before any work is done. This worker keeps
saq's upkeep (scheduling, sweeping, aborts, worker stats) and its job life cycle (active,
retried with the job's delay, failed, complete, aborted), but takes up to `batch` jobs per
round trip and hands each function its jobs together, so that the notifier can load and record
a batch in one query each. Jobs of different functions in a batch run side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from saq import Worker
from saq.job import Job
from saq.types import JobTaskContext
from saq.utils import cancel_tasks

from intake.error_summary import describe
from intake.resilience import OutageGuard, OutageLog, is_outage, wait_or_stop
from notifier.queue import Aborted, ClockedQueue

log = logging.getLogger("saq")  # saq's own logger: the host's filters on it apply here too

OUTAGE_RETRY_S = 5.0  # a job that met an outage is tried again after this long

# Takes a function's jobs; returns per job its result or the exception it ended with.
BatchHandler = Callable[[list[Job]], Awaitable[list[Any]]]


def one_by_one(function: Callable[..., Awaitable[Any]]) -> BatchHandler:
    """A plain saq job function `f(ctx, **kwargs)` as a handler: its jobs run concurrently."""

    async def handle(jobs: list[Job]) -> list[Any]:
        runs = (function({"job": job}, **(job.kwargs or {})) for job in jobs)
        return list(await asyncio.gather(*runs, return_exceptions=True))

    return handle


class BatchWorker(Worker[dict[str, Any]]):
    def __init__(
        self,
        queue: ClockedQueue,
        handlers: dict[str, BatchHandler],
        *,
        batch: int,
        grace: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(queue, functions=[(name, _unused) for name in handlers], **kwargs)
        self.clocked = queue
        self.handlers = handlers
        self.batch = batch
        self.grace = grace
        self.outages = OutageGuard("notifier job queue", logger=log)  # taking and settling
        self.job_outages = OutageLog("notifier jobs", logger=log)  # what the jobs met

    async def stop(self) -> None:
        """Let the batches in progress finish (up to the grace period), then stop the rest.

        saq's own stop would wait out its grace period on the upkeep loops asleep between
        rounds, and cancel batches half-way (their sends are then recorded "unconfirmed").
        """
        self.event.set()
        busy = [task for task in self.tasks if task.get_name() == "process"]
        if busy and self.grace:
            await asyncio.wait(busy, timeout=self.grace)
        await cancel_tasks(list(self.tasks), self._cancellation_hard_deadline_s)
        self.tasks.clear()
        await super().stop()

    async def process(self) -> bool:
        """One batch: take, mark active, run, settle. False when nothing was waiting."""
        try:
            jobs = await self.clocked.dequeue_batch(self.batch, wait=self.dequeue_timeout)
            if jobs:
                await self.clocked.start_batch(jobs, worker_id=self.id)
            self.outages.ok()
        except Exception as exc:  # Redis away: jobs taken but not started are swept back
            if is_outage(exc):
                await self.outages.pause(exc, self.event)
            else:
                log.warning("dequeue failed: %r", exc)
                await asyncio.sleep(1)
            return False
        if not jobs:
            return False
        outcomes = await self._outcomes(jobs)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, Exception) and is_outage(outcome):
                self._after_outage(job, outcome)
            elif isinstance(outcome, Exception):
                log.error("Error processing job %s: %s", job.key, describe(outcome))
        if not any(isinstance(o, Exception) and is_outage(o) for o in outcomes):
            self.job_outages.recovered()
        while True:
            try:
                await self.clocked.settle(jobs, outcomes)
                return True
            except Exception as exc:  # they stay active, and are swept back after their timeout
                if not is_outage(exc) or self.event.is_set():
                    log.warning("settling %d jobs failed: %r", len(jobs), exc)
                    return True
                await self.outages.pause(exc, self.event)  # settled once Redis is back

    def _after_outage(self, job: Job, exc: Exception) -> None:
        """Redis or the database was away: retried later, and not one of the job's attempts
        (a long outage must not use them up); logged once per outage."""
        self.job_outages.failed(exc)
        job.retries += 1
        job.retry_delay, job.retry_backoff = OUTAGE_RETRY_S, False

    async def upkeep(self) -> list[asyncio.Task[None]]:
        """saq's upkeep loops (aborts, schedule, sweep, worker stats), an outage logged once
        for all of them instead of a traceback per loop and round."""

        async def poll(func: Callable[[int], Awaitable[Any]], sleep: int, arg: int) -> None:
            while not self.event.is_set():
                try:
                    await func(arg)  # a success here says little (most rounds do nothing)
                except Exception as exc:
                    if self.event.is_set():
                        return
                    if is_outage(exc):
                        self.outages.log.failed(exc)
                    else:
                        log.exception("Upkeep task failed unexpectedly")
                await wait_or_stop(self.event, sleep)

        timers = self.timers
        return [
            asyncio.create_task(poll(self.abort, timers["abort"], timers["abort"])),
            asyncio.create_task(poll(self.schedule, timers["schedule"], timers["schedule"])),
            asyncio.create_task(poll(self.queue.sweep, timers["sweep"], timers["sweep"])),
            asyncio.create_task(
                poll(self.worker_info, timers["worker_info"], timers["worker_info"] + 1)
            ),
        ]

    async def _outcomes(self, jobs: list[Job]) -> list[Any]:
        """Run the batch within the longest job timeout; saq's abort upkeep may cancel it."""
        task = asyncio.create_task(self._run(jobs))
        contexts = {job: JobTaskContext(task=task, aborted=None) for job in jobs}
        self.job_task_contexts.update(contexts)
        timeout = max(job.timeout for job in jobs) or None
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError as exc:
            await cancel_tasks([task], self._cancellation_hard_deadline_s)
            return [exc] * len(jobs)
        except asyncio.CancelledError:  # the worker stops, or a job of the batch was aborted
            await cancel_tasks([task], self._cancellation_hard_deadline_s)
            return [_cancelled(contexts[job]) for job in jobs]
        finally:
            for job, context in contexts.items():
                if self.job_task_contexts.get(job) is context:
                    del self.job_task_contexts[job]

    async def _run(self, jobs: list[Job]) -> list[Any]:
        groups: dict[str, list[int]] = defaultdict(list)
        for index, job in enumerate(jobs):
            groups[job.function].append(index)
        outcomes: list[Any] = [None] * len(jobs)

        async def run(name: str, indexes: list[int]) -> None:
            try:
                results = await self.handlers[name]([jobs[i] for i in indexes])
            except Exception as exc:
                results = [exc] * len(indexes)
            for i, result in zip(indexes, results, strict=True):
                outcomes[i] = result

        await asyncio.gather(*(run(name, indexes) for name, indexes in groups.items()))
        return outcomes


def _cancelled(context: JobTaskContext) -> Aborted | BaseException:
    aborted = context["aborted"]
    return Aborted(aborted) if aborted is not None else asyncio.CancelledError("cancelled")


async def _unused(ctx: dict[str, Any], **kwargs: Any) -> None:
    raise RuntimeError("batch handlers run the jobs")
