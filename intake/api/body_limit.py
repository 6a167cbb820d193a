"""The largest request body the service reads (`INTAKE_HTTP__MAX_BODY_BYTES`), answered 413.

Outermost of the app's middleware: a declared `Content-Length` over the limit is refused
before anything reads the body (one within it is trusted: the server delivers no more than
it declares); a body without one (chunked) is counted as it is read, and once past the limit
the client gets 413 while the route reads a disconnect, so it stops and acknowledges nothing.
Whatever the route then tries to answer is dropped.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.api.asgi_answers import send_json

log = logging.getLogger(__name__)


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared == -1:
            return await send_json(
                send, 400, {"detail": "invalid Content-Length", "field": "content-length"}
            )
        if declared is None:  # chunked: counted as it is read
            return await _Counted(self, scope, receive, send).run()
        if declared > self.max_bytes:
            return await self.refuse(scope, send, declared)
        await self.app(scope, receive, send)

    async def refuse(self, scope: Scope, send: Send, size: int | None) -> None:
        log.info(
            "refused %s %s: body %s over the limit of %d bytes",
            scope.get("method"),
            scope.get("path"),
            size if size is not None else "(chunked)",
            self.max_bytes,
        )
        await send_json(
            send,
            413,
            {"detail": f"请求内容过大 (request body over {self.max_bytes} bytes)"},
            {"Connection": "close"},
        )


class _Counted:
    """One chunked request: counts what the app reads, answers 413 once past the limit."""

    def __init__(self, limit: BodyLimit, scope: Scope, receive: Receive, send: Send) -> None:
        self._limit, self._scope, self._receive, self._send = limit, scope, receive, send
        self._read = 0
        self._refused = False
        self._started = False

    async def run(self) -> None:
        try:
            await self._limit.app(self._scope, self.receive, self.send)
        except Exception:
            if not self._refused:
                raise
            # the app failed on the disconnect it was handed: it has been answered already

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._read += len(message.get("body", b""))
            if self._read > self._limit.max_bytes:
                self._refused = True
                if not self._started:
                    await self._limit.refuse(self._scope, self._send, None)
                    self._started = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return  # the client was answered 413
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None without one, -1 when it is not a plain number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not (0 < len(value) <= 19 and value.isdigit()):
                return -1
            return int(value)
    return None
