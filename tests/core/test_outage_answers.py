"""With Redis down every edge answers 503 with Retry-After (HTML for a browser), never 500,
acknowledges nothing, and the outage is logged once, not per request, with no traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from intake.config import Settings
from intake.runtime import Runtime
from service.app import create_app
from tests.core.helpers import request_body
from tests.fault_servers import RedisServer
from tests.polling import poll

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("backend", ["sqlite"])]

HTML = {"Accept": "text/html,application/xhtml+xml"}


@dataclass
class Down:
    http: httpx.AsyncClient
    pending: dict[str, str]  # a receipt acknowledged before Redis went away


@pytest.fixture
async def redis_down(settings: Settings, tmp_path: Path) -> AsyncIterator[Down]:
    server = RedisServer(tmp_path / "redis").start()
    settings.redis_url = server.url
    settings.limits.enabled = False
    runtime = await Runtime.open(settings)
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            accepted = await http.post("/api/v1/requests", json=request_body())
            assert accepted.status_code == 201, accepted.text
            server.kill()
            yield Down(http, accepted.json())
    finally:
        server.stop()
        await runtime.close()


def _refused(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:300])
    assert int(answer.headers["Retry-After"]) > 0


async def test_every_edge_answers_503_and_logs_the_outage_once(
    redis_down: Down, caplog: pytest.LogCaptureFixture
) -> None:
    http = redis_down.http
    caplog.set_level(logging.DEBUG, logger="intake")
    for _ in range(3):  # the API (its fast lane), each time
        _refused(await http.post("/api/v1/requests", json=request_body(phone="13900000001")))
    form = await http.post(
        "/api/v1/requests",
        data={"phone": "13900000002", "content": "井盖松动了", "request_type": "complaint"},
        headers=HTML,
    )
    _refused(form)
    assert form.headers["content-type"].startswith("text/html") and "稍后" in form.text
    number, code = redis_down.pending["number"], redis_down.pending["query_code"]
    _refused(await http.get(f"/api/v1/requests/{number}", params={"code": code}))
    page = await http.post("/status", data={"number": number, "code": code}, headers=HTML)
    _refused(page)
    assert page.headers["content-type"].startswith("text/html")

    def outage_lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.levelno >= logging.WARNING]

    await poll(lambda: _value(bool(outage_lines())), timeout=10)
    warnings = outage_lines()
    assert len(warnings) == 1 and "redis" in warnings[0].getMessage(), warnings
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged"


async def _value(value: bool) -> bool:
    return value
