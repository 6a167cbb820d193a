"""Plain ASGI handlers for the few routes that carry the load.

`POST /api/v1/requests` (web forms, apps and partner systems) and `POST /channels/wechat`
(every WeChat push) are most of the traffic, and FastAPI's routing, dependency solving and
request and response classes cost about as much CPU as the whole rest of accepting a request.
A connector may offer such routes (`fast_routes()`): this middleware answers them before
FastAPI's router, with the same handler code and the same error answers
(`intake.api.errors.error_answer`). The routes stay declared in FastAPI as well, for the
OpenAPI docs and for what a lane does not take (a route's `takes` says, e.g. JSON only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.api.client_ip import client_ip
from intake.api.errors import error_answer, error_headers
from intake.domain.errors import IntakeError, InvalidInput


@dataclass(frozen=True, slots=True)
class LaneRequest:
    headers: dict[str, str]  # names in lower case
    query_string: bytes
    body: bytes
    client_ip: str | None


@dataclass(frozen=True, slots=True)
class LaneAnswer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> LaneAnswer:
        return cls(status, orjson.dumps(body), "application/json", headers or {})


def _everything(_: dict[str, str]) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    path: str
    handle: Callable[[LaneRequest], Awaitable[LaneAnswer]]
    max_body: int
    takes: Callable[[dict[str, str]], bool] = _everything  # False: FastAPI's route answers


class FastLanes:
    """ASGI middleware: the connectors' fast routes (`app.state.fast_routes`), else FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route(scope) if scope["type"] == "http" else None
        if route is None:
            return await self.app(scope, receive, send)
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        if not route.takes(headers):
            return await self.app(scope, receive, send)
        body = await _read(receive, route.max_body)
        if body is None:  # the client went away
            return
        peer = client_ip(scope, _trusted_proxies(scope))
        request = LaneRequest(headers, scope["query_string"], body, peer)
        try:
            if len(body) > route.max_body:
                raise InvalidInput("request body too large", field="body")
            answer = await route.handle(request)
        except IntakeError as exc:
            status, payload = error_answer(exc, method=route.method, path=route.path)
            answer = LaneAnswer.json(status, payload, error_headers(exc))
        await _send(send, answer)


def _trusted_proxies(scope: Scope) -> list[str]:
    runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
    return runtime.settings.http.trusted_proxies if runtime is not None else []


def _route(scope: Scope) -> FastRoute | None:
    routes = getattr(getattr(scope.get("app"), "state", None), "fast_routes", None)
    return routes.get((scope["method"], scope["path"])) if routes else None


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body; once past `limit` it stops reading (and the request is refused)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, answer: LaneAnswer) -> None:
    headers = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(answer.body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
