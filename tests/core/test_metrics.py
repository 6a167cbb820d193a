"""`/metrics`: counters of intake, tickets, dead letters and HTTP routes, and sampled gauges.

Counters are process-wide (the suite builds many apps in one process), so tests compare a
scrape before with one after.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from intake.api.metrics_sampled import open_tickets_by_deadline
from intake.domain.enums import RequestType
from intake.domain.models import Ticket
from intake.metrics import MAX_CHILDREN, OTHER, Bound
from intake.runtime import Runtime
from service.app import create_app
from tests.core.helpers import drain, request_body
from tests.core.test_pipeline import sms
from tests.core.test_processes import (
    _children_of,
    _free_port,
    _intake,
    _submit_many,
    _wait_healthy,
)
from tests.core.test_rating_pipeline import PHONE, _closed_ticket_with_prompt

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_metrics_count_accepted_messages_tickets_and_routes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await scrape(client)
    bodies = []
    for i in range(3):
        response = await client.post(
            "/api/v1/requests", json=request_body(phone=f"1381234560{i}", content=f"第{i}件：噪音")
        )
        assert response.status_code == 201, response.text
        bodies.append(response.json())
    retry = await client.post(
        "/api/v1/requests", json=request_body(), headers={"Idempotency-Key": "same-1"}
    )
    again = await client.post(
        "/api/v1/requests", json=request_body(), headers={"Idempotency-Key": "same-1"}
    )
    assert retry.status_code == 201 and again.json()["duplicate"] is True
    await drain(runtime)
    number = bodies[0]["number"]
    found = await client.get(f"/api/v1/requests/{number}", params={"code": bodies[0]["query_code"]})
    assert found.status_code == 200
    assert (await client.get("/no/such/page")).status_code == 404
    after = await scrape(client)

    assert grew(before, after, "intake_messages_accepted_total", channel="web") == 4
    opened = "intake_tickets_opened_total"
    assert grew(before, after, opened, channel="web", request_type="complaint") == 4
    http = "intake_http_request_duration_seconds_count"
    posted = {"method": "POST", "route": "/api/v1/requests", "status": "2xx"}
    assert grew(before, after, http, **posted) == 5
    looked_up = {"method": "GET", "route": "/api/v1/requests/{number}", "status": "2xx"}
    assert grew(before, after, http, **looked_up) == 1
    assert grew(before, after, http, method="GET", route="other", status="4xx") == 1
    assert grew(before, after, "intake_pipeline_batch_size_sum") == 4
    assert grew(before, after, "intake_pipeline_batch_seconds_count") >= 1
    assert value(after, "intake_pipeline_backlog") == 0
    assert value(after, "intake_pipeline_lag_seconds") == 0
    routes = {dict(labels).get("route") for _, labels in after}
    assert not any(number in str(route) for route in routes)


async def test_dead_letters_and_pipeline_lag(client: httpx.AsyncClient, runtime: Runtime) -> None:
    keys, redis = runtime.redis.keys, runtime.redis.client
    before = await scrape(client)
    five_s_ago = int(time.time() * 1000) - 5000
    await redis.xadd(keys.inbound, {"msg": "not a message"}, id=f"{five_s_ago}-0")
    waiting = await scrape(client)
    assert value(waiting, "intake_pipeline_backlog") == 1
    assert value(waiting, "intake_pipeline_lag_seconds") >= 4.5
    await drain(runtime)
    after = await scrape(client)
    assert grew(before, after, "intake_dead_letters_total", reason="unreadable") == 1
    assert value(after, "intake_dead_letters_waiting") == 1
    assert value(after, "intake_pipeline_backlog") == 0


async def test_open_tickets_by_deadline_colour(client: httpx.AsyncClient, runtime: Runtime) -> None:
    for i in range(3):
        body = request_body(phone=f"1391234560{i}", content=f"第{i}件：路灯不亮")
        assert (await client.post("/api/v1/requests", json=body)).status_code == 201
    await drain(runtime)
    now = runtime.clock()
    async with runtime.db.write() as session, session.begin():
        numbers = list(await session.scalars(select(Ticket.number).order_by(Ticket.number)))
        late, paused, later = numbers
        moves = [
            (late, {"due_at": now - timedelta(hours=1)}),
            (paused, {"due_at": now + timedelta(days=30), "waiting_since": now}),
            (later, {"due_at": now + timedelta(days=30)}),
        ]
        for number, values in moves:
            await session.execute(update(Ticket).where(Ticket.number == number).values(**values))
        with_due = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.due_at.is_not(None))
        )
    assert await open_tickets_by_deadline(runtime, now) == {
        "green": 1,
        "yellow": 0,
        "red": 1,
        "paused": 1,
    }
    assert with_due == 3
    # a fresh app: the scrape caches these counts for a while
    fresh = create_app(runtime.settings, runtime=runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fresh), base_url="http://testserver"
    ) as other:
        samples = await scrape(other)
    assert value(samples, "intake_open_tickets", deadline="red") == 1
    assert value(samples, "intake_open_tickets", deadline="paused") == 1
    assert value(samples, "intake_open_tickets", deadline="green") == 1


async def _metrics_of(base: str) -> Samples:
    async with httpx.AsyncClient() as http:
        return await scrape_url(http, f"{base}/metrics")


async def scrape_url(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    return parse(response.text)


async def _until_opened(base: str, count: int, log: Path) -> Samples:
    deadline = time.monotonic() + 30
    while True:
        samples = await _metrics_of(base)
        opened = sum(v for (name, _), v in samples.items() if name == "intake_tickets_opened_total")
        if opened >= count:
            return samples
        assert time.monotonic() < deadline, f"{opened} of {count}: {log.read_text()[-2000:]}"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_intake_run_shows_what_its_pipeline_child_counted(tmp_path: Path) -> None:
    """The pipeline runs in a child process; the parent's /metrics shows its tickets, and
    still does after the child was killed and restarted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "PROMETHEUS_"))}
    data = tmp_path / "data"
    env.update({"INTAKE_DATA_DIR": str(data), "INTAKE_LOG_LEVEL": "WARNING"})
    log, port = tmp_path / "run.log", _free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["run", "--port", str(port), "--pipeline-placement", "child"]
    proc = _intake(*args, env=env, log=log)
    try:
        await _wait_healthy(base, proc, log)
        (child,) = await _children_of(proc.pid, 1)
        await _submit_many(base, 5, phone="137000000{i:02d}", text="第{i}件事：占道经营")
        samples = await _until_opened(base, 5, log)
        assert value(samples, "intake_messages_accepted_total", channel="web") == 5
        opened = {"channel": "web", "request_type": "consultation"}
        assert value(samples, "intake_tickets_opened_total", **opened) == 5
        assert value(samples, "intake_pipeline_batch_size_sum") == 5
        writers = {path.stem.rsplit("-", 1)[1] for path in (data / "metrics").glob("*.db")}
        assert {str(proc.pid), str(child)} <= writers
        os.kill(child, signal.SIGKILL)  # what a dead child counted still counts
        await asyncio.sleep(0.3)
        await _children_of(proc.pid, 1)
        await _submit_many(base, 1, phone="13700000099", text="子进程重启后：占道经营")
        samples = await _until_opened(base, 6, log)
        assert value(samples, "intake_tickets_opened_total", **opened) == 6
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]


async def test_a_rating_answered_by_sms_is_counted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await scrape(client)
    await _closed_ticket_with_prompt(runtime)
    await runtime.gateway.submit(sms("m1", "1", phone=PHONE))  # 1: 满意
    await drain(runtime)
    after = await scrape(client)
    answers = "intake_survey_answers_total"
    assert grew(before, after, answers, rating="satisfied", channel="sms") == 1
    assert grew(before, after, "intake_messages_accepted_total", channel="sms") == 2
    opened = "intake_tickets_opened_total"
    assert sum(grew(before, after, opened, channel="sms", request_type=t) for t in RequestType) == 1


def test_label_values_are_bounded() -> None:
    counter = Counter("t_bounded", "a test counter", ["who"], registry=CollectorRegistry())
    bound = Bound(counter)
    for n in range(MAX_CHILDREN + 50):
        bound(f"value-{n}").inc()
    assert bound(OTHER) is bound("value-9999")
    samples = {s.labels["who"]: s.value for s in counter.collect()[0].samples}
    assert len(samples) == MAX_CHILDREN + 1 and samples[OTHER] == 50
