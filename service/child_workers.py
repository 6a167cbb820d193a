"""Pipeline worker processes that `intake run` starts beside itself.

One process runs on one core: a pipeline process of its own keeps the batches off the core on
which `intake run` answers HTTP (and the webhooks waiting for the pipeline).
The children are plain `intake worker --only pipeline` processes (the first one runs the
notifier too) on the same database and Redis (the embedded one's socket is handed to them),
restarted when one dies, stopped with `intake run`, and stopping by themselves when it is
killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from intake import metrics
from intake.config import Settings
from intake.resilience import Backoff

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
RESTART_DELAY_CAP_S = 30.0  # a child that keeps failing at start is restarted this seldom
STEADY_S = 30.0  # a child that ran this long starts again after RESTART_DELAY_S
STOP_TIMEOUT_S = 20.0


PARENT_ENV = "INTAKE_PARENT_PID"
PARENT_POLL_S = 1.0


def pipeline_children(settings: Settings) -> int:
    """How many child pipeline processes `intake run` starts; 0 runs the pipeline inside it.

    A single pipeline gets a core of its own whenever there is a second core to run it on,
    with SQLite too (WAL: the HTTP process reads and writes beside it).
    """
    pipeline = settings.pipeline
    if pipeline.processes > 1 or pipeline.placement == "child":
        return pipeline.processes
    if pipeline.placement == "inside":
        return 0
    return 1 if _usable_cores() >= 2 else 0


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def child_environment(settings: Settings, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "INTAKE_DATA_DIR": str(settings.data_dir.resolve()),
            "INTAKE_DATABASE_URL": settings.resolved_database_url,
            "INTAKE_REDIS_URL": redis_url,
            "INTAKE_REDIS_PREFIX": settings.redis_prefix,
            PARENT_ENV: str(os.getpid()),
        }
    )
    return env


async def stop_when_orphaned(stop: asyncio.Event) -> None:
    """A child whose `intake run` was killed outright stops too instead of consuming on."""
    expected = os.environ.get(PARENT_ENV)
    if not expected:
        return
    while not stop.is_set():
        if os.getppid() != int(expected):
            log.warning("the intake run process pid=%s is gone; stopping", expected)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PARENT_POLL_S)


async def supervise_pipelines(count: int, env: dict[str, str], stop: asyncio.Event) -> None:
    """Keep `count` pipeline processes running until `stop`; then terminate them. The first
    one runs the notifier too: beside HTTP, its sending would take the webhooks' core."""
    if count < 1:
        return
    children: dict[int, asyncio.subprocess.Process] = {}
    started: dict[int, float] = {}
    delays = {n: Backoff(initial=RESTART_DELAY_S, cap=RESTART_DELAY_CAP_S) for n in range(count)}

    async def start(slot: int) -> None:
        kinds = "pipeline,notifier" if slot == 0 else "pipeline"
        started[slot] = time.monotonic()
        children[slot] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", "worker", "--only", kinds, env=env
        )
        log.info("pipeline process %d (%s) started pid=%d", slot + 1, kinds, children[slot].pid)

    try:
        for slot in range(count):
            await start(slot)
        stopping = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            exits = {asyncio.ensure_future(p.wait()): slot for slot, p in children.items()}
            done, _ = await asyncio.wait({stopping, *exits}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in exits:
                if waiter not in done:
                    waiter.cancel()
            for waiter in done:
                if waiter is stopping:
                    continue
                slot = exits[waiter]
                metrics.process_exited(children[slot].pid)
                if time.monotonic() - started[slot] >= STEADY_S:
                    delays[slot].reset()
                delay = max(RESTART_DELAY_S, delays[slot].next())  # growing while it fails early
                log.warning(
                    "pipeline process %d exited with %s; restarting in %.0f s",
                    slot + 1,
                    waiter.result(),
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if not stop.is_set():
                    await start(slot)
    finally:
        await _stop(list(children.values()))


async def _stop(children: list[asyncio.subprocess.Process]) -> None:
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.wait(), timeout=STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("pipeline process pid=%d did not stop; killing it", child.pid)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
        metrics.process_exited(child.pid)
