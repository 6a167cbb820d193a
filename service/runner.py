"""Long-running processes: everything in one (`intake run`), HTTP only, or workers only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
from collections.abc import Collection

import uvicorn

from channels.base import Connector
from intake.config import Settings
from intake.integration.webhook_worker import run_webhooks
from intake.pipeline.backlog import run_with_helpers
from intake.privacy.retention import retention_loop
from intake.redis import heartbeat
from intake.reports.summary_worker import run_report_summaries
from intake.resilience import OutageGuard, supervise
from intake.runtime import Runtime
from intake.storage.outbox import relay_loop
from notifier.service import run_notifier
from service.app import create_app
from service.child_workers import (
    child_environment,
    pipeline_children,
    stop_when_orphaned,
    supervise_pipelines,
)
from service.connectors import build_connectors
from service.process import settle_heap
from service.settings import service_settings
from service.wiring import notifier_parts, open_runtime

log = logging.getLogger(__name__)

WORKER_KINDS = ("pipeline", "notifier", "email", "telegram", "wechat", "webhooks", "reports")


async def run_all(settings: Settings, *, host: str, port: int) -> None:
    """HTTP, pipeline and every background task in one process: the quick start."""
    runtime = await open_runtime(settings)
    app = create_app(settings, runtime=runtime)
    server = uvicorn.Server(
        # proxy_headers=False: intake.api.client_ip alone decides whose X-Forwarded-For counts
        uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False
        )
    )
    stop = asyncio.Event()
    # Child pipelines leave this process's core to HTTP, whose webhooks wait for their outcome;
    # the first child runs the notifier too, whose sending would otherwise share that core.
    children = pipeline_children(settings)
    kinds = set(WORKER_KINDS) - ({"pipeline", "notifier"} if children else set())
    tasks = _worker_tasks(
        runtime, stop, kinds=kinds, connectors=app.state.connectors, beside_http=True
    )
    if children:
        env = child_environment(settings, runtime.redis.url)
        tasks.append(asyncio.create_task(supervise_pipelines(children, env, stop), name="children"))
    settle_heap()
    log.info(
        "intake run: http://%s:%d/ data=%s pipeline=%s",
        host,
        port,
        settings.data_dir.resolve(),
        f"{children} child process(es)" if children else "in this process",
    )
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


async def run_workers(settings: Settings, *, only: Collection[str] | None) -> None:
    """The workers of `only` (all kinds when None) until SIGTERM/SIGINT. A worker started
    while Redis or the database is away (a child restarted during an outage) waits for them."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = OutageGuard("worker start", logger=log)
    runtime = await starting.call(lambda: open_runtime(settings), stop)

    kinds = set(WORKER_KINDS if only is None else only)
    helpers = 0 if settings.is_sqlite else settings.pipeline.backlog_helpers
    tasks = _worker_tasks(
        runtime,
        stop,
        kinds=kinds,
        connectors=build_connectors(runtime, service_settings(runtime.settings)),
        helpers=helpers,
    )
    tasks.append(asyncio.create_task(stop_when_orphaned(stop), name="parent-watch"))
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
    kinds: Collection[str],
    connectors: dict[str, Connector],
    helpers: int = 0,
    beside_http: bool = False,
) -> list[asyncio.Task[None]]:
    # every worker process relays the outbox: events a crashed process committed get out
    relaying = supervise("outbox relay", lambda: relay_loop(runtime.relay, stop), stop)
    tasks = [asyncio.create_task(relaying, name="outbox-relay")]
    # every worker process may run the daily retention purge; a Redis key lets one at a time
    tasks.append(asyncio.create_task(_retention(runtime, stop), name="retention"))
    if "pipeline" in kinds:
        worker = runtime.pipeline_worker(beside_http=beside_http)
        extra = [
            runtime.pipeline_worker(consumer=f"{worker.consumer}-helper{n + 1}")
            for n in range(helpers)
        ]
        running = run_with_helpers(worker, extra, stop)
        tasks.append(asyncio.create_task(running, name="pipeline"))
        tasks.append(_heartbeat(runtime, "pipeline", worker.consumer, tasks[-1], stop))
    if "notifier" in kinds:
        senders = {s.channel: s for c in connectors.values() if (s := c.sender()) is not None}
        if (wecom := connectors.get("wecom")) is not None:
            senders["wecom_robot"] = wecom.robot_sender()  # type: ignore[attr-defined]
        notifying = run_notifier(notifier_parts(runtime), stop, senders)
        tasks.append(asyncio.create_task(notifying, name="notifier"))
        tasks.append(_heartbeat(runtime, "notifier", _process_name(), tasks[-1], stop))
    if "webhooks" in kinds:
        hooks = functools.partial(
            run_webhooks,
            db=runtime.db,
            redis=runtime.redis.client,
            keys=runtime.redis.keys,
            settings=runtime.settings.integration,
            stop=stop,
        )
        tasks.append(asyncio.create_task(supervise("webhooks", hooks, stop), name="webhooks"))
    if "reports" in kinds:
        summaries = functools.partial(
            run_report_summaries, runtime.db, clock=runtime.clock, stop=stop
        )
        tasks.append(asyncio.create_task(supervise("reports", summaries, stop), name="reports"))
    tasks.extend(_connector_tasks(connectors, kinds=kinds))
    return tasks


def _heartbeat(
    runtime: Runtime, kind: str, member: str, task: asyncio.Task[None], stop: asyncio.Event
) -> asyncio.Task[None]:
    """Beats for `task` in Redis while it runs, for readiness (`/readyz`) to see."""
    keys = runtime.redis.keys
    return heartbeat.watch(runtime.redis.client, keys.heartbeats(kind), member, task, stop)


def _process_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _connector_tasks(
    connectors: dict[str, Connector], *, kinds: Collection[str]
) -> list[asyncio.Task[None]]:
    """Channel background loops (the e-mail reader, Telegram polling) of the kinds named."""
    tasks: list[asyncio.Task[None]] = []
    for name, connector in connectors.items():
        if name in kinds:
            for index, job in enumerate(connector.background_tasks()):
                running = supervise(f"{name} background task {index}", job)
                tasks.append(asyncio.create_task(running, name=f"{name}-{index}"))
    return tasks


async def _retention(runtime: Runtime, stop: asyncio.Event) -> None:
    await retention_loop(
        runtime.db,
        runtime.redis,
        runtime.attachments,
        settings=runtime.settings.retention,
        clock=runtime.clock,
        stop=stop,
    )


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
