"""A JSON answer sent from plain ASGI middleware, before FastAPI's router or without it."""

from __future__ import annotations

import orjson
from starlette.types import Send


async def send_json(
    send: Send, status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> None:
    payload = orjson.dumps(body)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode("ascii")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
