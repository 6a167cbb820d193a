"""Long-running processes: everything in one (`intake run`), HTTP only, or workers only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import uvicorn

from channels.base import Connector
from intake.app import create_app
from intake.child_workers import child_environment, supervise_pipelines
from intake.config import Settings
from intake.outbox import relay_loop
from intake.process import settle_heap
from intake.runtime import Runtime

log = logging.getLogger(__name__)

WORKER_KINDS = ("pipeline", "notifier", "email", "telegram", "wechat")


async def run_all(settings: Settings, *, host: str, port: int) -> None:
    """HTTP, pipeline and every background task in one process: the quick start."""
    runtime = await Runtime.open(settings)
    app = create_app(settings, runtime=runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    )
    stop = asyncio.Event()
    # One pipeline: in this process. Several: all of them child processes, so that this one
    # keeps its core for HTTP (whose webhooks wait for the pipeline's outcome) and the rest.
    children = settings.pipeline.processes if settings.pipeline.processes > 1 else 0
    tasks = _worker_tasks(
        runtime, stop, only=None, connectors=app.state.connectors, pipeline=not children
    )
    if children:
        env = child_environment(settings, runtime.redis.url)
        tasks.append(asyncio.create_task(supervise_pipelines(children, env, stop), name="children"))
    settle_heap()
    log.info("intake run: http://%s:%d/ data=%s", host, port, settings.data_dir.resolve())
    _quiet_after_uvicorn(stop)
    try:
        await server.serve()
    finally:
        stop.set()
        await _finish(tasks)
        await runtime.close()


def _quiet_after_uvicorn(stop: asyncio.Event) -> None:
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, into the handler that
    was there before it; ours then lets the workers and the embedded Redis stop cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


async def run_workers(settings: Settings, *, only: str | None) -> None:
    runtime = await Runtime.open(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from channels.registry import build_connectors

    tasks = _worker_tasks(runtime, stop, only=only, connectors=build_connectors(runtime))
    settle_heap()
    try:
        await stop.wait()
    finally:
        await _finish(tasks)
        await runtime.close()


def _worker_tasks(
    runtime: Runtime,
    stop: asyncio.Event,
    *,
    only: str | None,
    connectors: dict[str, Connector],
    pipeline: bool = True,
) -> list[asyncio.Task[None]]:
    # every worker process relays the outbox: events a crashed process committed get out
    tasks = [asyncio.create_task(relay_loop(runtime.relay, stop), name="outbox-relay")]
    if pipeline and only in (None, "pipeline"):
        worker = runtime.pipeline_worker()
        tasks.append(asyncio.create_task(worker.run(stop), name="pipeline"))
    if only in (None, "notifier"):
        from notifier.service import run_notifier

        senders = {s.channel: s for c in connectors.values() if (s := c.sender()) is not None}
        tasks.append(asyncio.create_task(run_notifier(runtime, stop, senders), name="notifier"))
    tasks.extend(_connector_tasks(connectors, only=only))
    return tasks


def _connector_tasks(
    connectors: dict[str, Connector], *, only: str | None
) -> list[asyncio.Task[None]]:
    """Channel background loops (the e-mail reader, Telegram polling): all, or the one named."""
    tasks: list[asyncio.Task[None]] = []
    for name, connector in connectors.items():
        if only in (None, name):
            for index, job in enumerate(connector.background_tasks()):
                tasks.append(asyncio.create_task(_as_task(job), name=f"{name}-{index}"))
    return tasks


async def _as_task(job: Callable[[], Awaitable[None]]) -> None:
    await job()


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
