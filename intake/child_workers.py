"""Pipeline worker processes that `intake run` starts beside itself.

One process runs on one core: with PostgreSQL, pipeline processes of their own let batches be
processed side by side while `intake run` keeps its core for HTTP. The children are plain
`intake worker --only pipeline` processes on the same database and Redis (the embedded one's
socket is handed to them), restarted when one dies, stopped with `intake run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from intake.config import Settings

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 20.0


def child_environment(settings: Settings, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "INTAKE_DATA_DIR": str(settings.data_dir.resolve()),
            "INTAKE_DATABASE_URL": settings.resolved_database_url,
            "INTAKE_REDIS_URL": redis_url,
            "INTAKE_REDIS_PREFIX": settings.redis_prefix,
        }
    )
    return env


async def supervise_pipelines(count: int, env: dict[str, str], stop: asyncio.Event) -> None:
    """Keep `count` pipeline processes running until `stop`; then terminate them."""
    if count < 1:
        return
    children: dict[int, asyncio.subprocess.Process] = {}

    async def start(slot: int) -> None:
        children[slot] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "intake.cli", "worker", "--only", "pipeline", env=env
        )
        log.info("pipeline process %d started pid=%d", slot + 1, children[slot].pid)

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
                log.warning(
                    "pipeline process %d exited with %s; restarting", slot + 1, waiter.result()
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RESTART_DELAY_S)
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
