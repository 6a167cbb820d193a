"""Consumers that help the pipeline worker of a process only while there is a backlog.

A pipeline worker waits for PostgreSQL through much of each batch (its statements run one
after another); a second consumer in the same process fills those waits with the next
batch's work. Under a steady trickle (webhooks waiting for each answer) it would only split
the batches and pay each batch's fixed cost twice, so a helper reads only after the worker
has found a full batch waiting, and goes back to waiting when its own read comes back short.
"""

from __future__ import annotations

import asyncio
import logging

from intake.pipeline.worker import PipelineWorker
from intake.resilience import supervise

log = logging.getLogger(__name__)


async def run_with_helpers(
    worker: PipelineWorker, helpers: list[PipelineWorker], stop: asyncio.Event
) -> None:
    """The worker and its helpers until `stop`; one that dies of a bug is started again."""
    await asyncio.gather(
        supervise(f"pipeline worker {worker.consumer}", lambda: worker.run(stop), stop),
        *(
            supervise(f"pipeline helper {h.consumer}", lambda h=h: _help(worker, h, stop), stop)
            for h in helpers
        ),
    )


async def _help(worker: PipelineWorker, helper: PipelineWorker, stop: asyncio.Event) -> None:
    helper.bind(stop)
    await helper.outages.call(helper.ensure_group, stop)
    full = helper.batch_size
    try:
        while await _until_either(worker.backlog, stop):
            worker.backlog.clear()
            try:
                while not stop.is_set() and await helper.run_once(block_ms=1, overlap=True) >= full:
                    pass
                await helper.pause()
                helper.outages.ok()
            except Exception as exc:  # an outage: waited out, then what it held is read again
                await helper.recover(exc)
                worker.backlog.set()
    finally:
        await helper.pause_quietly()


async def _until_either(event: asyncio.Event, stop: asyncio.Event) -> bool:
    """Whether `event` was set before `stop`."""
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    return not stop.is_set()
