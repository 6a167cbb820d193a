"""`POST /api/v1/requests` with a JSON body, answered by a plain ASGI handler.

This is the busiest route of the service (web forms, apps and partner systems post here), and
FastAPI's routing, dependency solving and response classes cost about as much CPU as the
whole rest of the acceptance. The lane answers exactly the same: it calls the connector's
`accept` (the same validation, idempotency and receipt), and its errors have the same
status codes and bodies. Form posts, HTML answers and every other route go to FastAPI, where
the route stays declared for the OpenAPI docs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.web.connector import MAX_JSON_BYTES, parse_json_body
from intake.errors import InvalidInput

if TYPE_CHECKING:
    from channels.web.connector import WebConnector

log = logging.getLogger(__name__)

PATH = "/api/v1/requests"


class JsonSubmitLane:
    """ASGI middleware: takes JSON submissions off FastAPI's path, passes the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        connector = _web_connector(scope)
        headers = _headers(scope)
        if connector is None or not headers.get("content-type", "").startswith("application/json"):
            return await self.app(scope, receive, send)
        raw = await _read(receive)
        if raw is None:  # the client went away
            return
        try:
            data = parse_json_body(raw)
        except InvalidInput as exc:
            log.info("refused POST %s: 422 %s", PATH, exc)
            return await _answer(send, 422, {"detail": str(exc), "field": exc.field}, {})
        client = scope.get("client")
        result = await connector.accept(
            data,
            [],
            idempotency_key=headers.get("idempotency-key"),
            client_ip=client[0] if client else None,
        )
        await _answer(send, result.status, result.body, result.headers)


def _web_connector(scope: Scope) -> WebConnector | None:
    app = scope.get("app")
    connectors = getattr(getattr(app, "state", None), "connectors", None) or {}
    return connectors.get("web")


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in (b"content-type", b"idempotency-key")
    }


async def _read(receive: Receive) -> bytes | None:
    """The whole body; past the limit it stops reading (the parser refuses it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_JSON_BYTES or not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    content = orjson.dumps(body)
    extra = headers.items()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": content})
