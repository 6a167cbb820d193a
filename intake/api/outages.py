"""While Redis or the database is down, every route answers 503 with Retry-After, not 500.

An edge that could not make a message durable acknowledges nothing: the gateway raises
`Unavailable`, and whatever Redis or database connection error escapes any other route (a
lookup, a webhook's own Redis step, the status page) is caught here, outside every other
layer, and answered 503 with `Retry-After` (an HTML page for a browser, JSON otherwise).
WeChat, Kannel and Telegram all retry a 503. Nothing is logged per request: the first 503 of
an outage starts a probe that names the service that is down in one warning and, once it
answers again, logs one info line with how long it was down and how many requests got 503.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.api.asgi_answers import send_json
from intake.api.errors import error_headers
from intake.domain.errors import Unavailable
from intake.resilience import Backoff, is_outage, outage_kind
from intake.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
PROBE_TIMEOUT_S = 2.0
MESSAGE = "服务暂时不可用，请稍后再试。Service temporarily unavailable; please try again shortly."
_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    "<title>服务暂时不可用</title></head><body><h1>服务暂时不可用</h1>"
    "<p>系统正在恢复，您的请求尚未提交，请稍后再试。</p>"
    "<p>Service temporarily unavailable: nothing was submitted. Please try again shortly.</p>"
    "</body></html>"
)


def install_outage_answers(app: FastAPI) -> None:
    """The middleware (add it last: outermost) and the answer for `Unavailable` raised in a
    route (HTML for a browser)."""
    app.add_middleware(OutageAnswers)
    app.add_exception_handler(Unavailable, _unavailable)  # type: ignore[arg-type]


async def _unavailable(request: Request, exc: Unavailable) -> Response:
    headers = error_headers(exc)
    if _wants_html(request.headers.get("accept", "")):
        return HTMLResponse(_PAGE, status_code=503, headers=headers)
    return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)


class OutageAnswers:
    """ASGI middleware: outage errors escaping a route become 503; 503s start the probe."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.probe = OutageProbe()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 503:
                    self.probe.noticed(scope)
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started or not is_outage(exc):
                raise
            log.debug("503 for %s: %s unavailable", scope.get("path"), outage_kind(exc))
            self.probe.noticed(scope)
            await _answer(scope, send)


async def _answer(scope: Scope, send: Send) -> None:
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    accept = next((v for k, v in scope.get("headers", []) if k == b"accept"), b"")
    if _wants_html(accept.decode("latin-1")):
        body = _PAGE.encode()
        raw = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"retry-after", str(RETRY_AFTER_S).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        return
    await send_json(send, 503, {"detail": MESSAGE}, headers)


def _wants_html(accept: str) -> bool:
    return "text/html" in accept


class OutageProbe:
    """One warning per outage and one line when it is over, from pinging Redis and the
    database (a 503 says something is down, not what, nor when it is back)."""

    def __init__(self) -> None:
        self.answered = 0  # 503s since the probe last started
        self._task: asyncio.Task[None] | None = None

    def noticed(self, scope: Scope) -> None:
        self.answered += 1
        if self._task is not None and not self._task.done():
            return
        runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
        if runtime is None:
            return
        self.answered = 1
        self._task = asyncio.get_running_loop().create_task(self._watch(runtime))

    async def _watch(self, runtime: Runtime) -> None:
        down = await _down(runtime)
        if not down:
            return  # a 503 on purpose (readiness), or already over
        since = time.monotonic()
        log.warning(
            "%s unavailable: answering 503 with Retry-After until it is back",
            " and ".join(sorted(down)),
        )
        backoff = Backoff(initial=0.2, cap=2.0)
        while down:
            await asyncio.sleep(backoff.next())
            down = await _down(runtime)
        log.info(
            "back after %.1f s of outage; %d requests were answered 503 meanwhile",
            time.monotonic() - since,
            self.answered,
        )


async def _down(runtime: Runtime) -> set[str]:
    """Which of Redis and the database do not answer now."""
    down: set[str] = set()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await runtime.redis.client.ping()
    except Exception:
        down.add("redis")
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), runtime.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        down.add("database")
    return down
