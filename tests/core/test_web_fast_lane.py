"""JSON submissions are answered by the plain ASGI lane, the same as FastAPI's route would."""

from __future__ import annotations

import httpx
import pytest

from channels.web.connector import MAX_JSON_BYTES, WebConnector
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body, ticket_count


async def test_json_submissions_skip_the_fastapi_route(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_here(*_: object, **__: object) -> None:
        raise AssertionError("a JSON submission went through FastAPI's route")

    monkeypatch.setattr(WebConnector, "submit", not_here)
    response = await client.post(
        "/api/v1/requests", json=request_body(), headers={"Idempotency-Key": "lane-1"}
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    again = await client.post(
        "/api/v1/requests", json=request_body(), headers={"Idempotency-Key": "lane-1"}
    )
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**response.json(), "duplicate": True}
    await drain(runtime)
    assert await ticket_count(runtime) == 1


async def test_lane_and_route_refuse_alike(client: httpx.AsyncClient) -> None:
    """The same bad request as JSON (lane) and as a form asking for JSON (FastAPI's route)."""
    bad = request_body(phone="12345", content="短")
    by_lane = await client.post("/api/v1/requests", json=bad)
    by_route = await client.post(
        "/api/v1/requests", data=bad, headers={"accept": "application/json"}
    )
    assert by_lane.status_code == by_route.status_code == 422
    assert by_lane.json() == by_route.json()
    assert {e["field"] for e in by_lane.json()["detail"]} == {"phone", "content"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{oops", "invalid JSON"),
        (b"[1, 2]", "must be an object"),
        (b"{" + b" " * MAX_JSON_BYTES + b"}", "too large"),
    ],
)
async def test_unreadable_bodies_are_refused_with_a_reason(
    client: httpx.AsyncClient, runtime: Runtime, content: bytes, reason: str
) -> None:
    response = await client.post(
        "/api/v1/requests", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "body" and reason in response.json()["detail"]
    await drain(runtime)
    assert await ticket_count(runtime) == 0


async def test_other_methods_and_types_reach_fastapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/requests")).status_code == 405
    text = await client.post(
        "/api/v1/requests", content=b"hello", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 422 and text.json()["field"] == "content-type"
