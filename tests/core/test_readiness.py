"""`/healthz` is liveness only; `/readyz` reports each component and is 503 when the intake
cannot take messages (no pipeline alive, the pipeline far behind), but not for the notifier."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from intake.redis import heartbeat
from intake.runtime import Runtime
from service.runner import _worker_tasks
from tests.core.helpers import request_body

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict[str, dict[str, object]]]:
    answer = await client.get("/readyz")
    return answer.status_code, answer.json()["components"]


async def _until(client: httpx.AsyncClient, expected: int) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + 15
    while True:
        status, components = await _ready(client)
        if status == expected:
            return components
        assert time.monotonic() < deadline, components
        await asyncio.sleep(0.1)


@pytest.fixture
async def workers(runtime: Runtime) -> AsyncIterator[list[asyncio.Task[None]]]:
    """The pipeline and the notifier as `intake worker` runs them, heartbeats included."""
    stop = asyncio.Event()
    tasks = _worker_tasks(runtime, stop, kinds={"pipeline", "notifier"}, connectors={})
    yield tasks
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_healthz_is_liveness_only(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


async def test_ready_with_running_workers_and_a_submission_processed(
    client: httpx.AsyncClient, workers: list[asyncio.Task[None]]
) -> None:
    components = await _until(client, 200)
    assert {name: c["status"] for name, c in components.items()} == {
        "database": "ok",
        "redis": "ok",
        "pipeline": "ok",
        "pipeline_lag": "ok",
        "notifier": "ok",
    }
    assert components["pipeline"]["alive"] == 1
    assert (await client.post("/api/v1/requests", json=request_body())).status_code == 201
    components = await _until(client, 200)
    assert components["pipeline_lag"]["seconds"] < 30


async def test_no_pipeline_heartbeat_is_503(
    client: httpx.AsyncClient, runtime: Runtime, workers: list[asyncio.Task[None]]
) -> None:
    await _until(client, 200)
    pipeline = next(t for t in workers if t.get_name() == "pipeline")
    pipeline.cancel()  # the worker's task dies while the process lives on
    components = await _until(client, 503)
    assert components["pipeline"] == {"status": "failed", "alive": 0}
    assert components["database"]["status"] == components["redis"]["status"] == "ok"


async def test_a_dead_notifier_is_reported_without_503(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    stop = asyncio.Event()
    key = runtime.redis.keys.heartbeats("pipeline")
    beating = asyncio.create_task(
        heartbeat.beat(runtime.redis.client, key, "p1", stop=stop, alive=lambda: True)
    )
    try:
        components = await _until(client, 200)
        assert components["notifier"] == {"status": "failed", "alive": 0, "required": False}
    finally:
        stop.set()
        await beating
    components = await _until(client, 503)  # a stopped pipeline leaves at once
    assert components["pipeline"]["alive"] == 0


async def test_lag_over_the_bound_is_503(client: httpx.AsyncClient, runtime: Runtime) -> None:
    stop = asyncio.Event()
    key = runtime.redis.keys.heartbeats("pipeline")
    beating = asyncio.create_task(
        heartbeat.beat(runtime.redis.client, key, "p1", stop=stop, alive=lambda: True)
    )
    try:
        await _until(client, 200)
        # a message nobody has read for a minute: the pipeline is alive but stuck or far behind
        old_ms = int((await heartbeat.server_time(runtime.redis.client)) * 1000) - 60_000
        await runtime.redis.client.xadd(runtime.redis.keys.inbound, {"msg": "x"}, id=f"{old_ms}-0")
        components = await _until(client, 503)
        lag = components["pipeline_lag"]
        assert lag["status"] == "failed" and 59 < float(lag["seconds"]) < 70  # type: ignore[arg-type]
        assert lag["bound_s"] == 30
    finally:
        stop.set()
        await beating
