"""ASGI middleware: every HTTP answer's latency, by method, route template and status class.

It sits outside `FastLanes`, so the answers of the fast routes are measured too. The route
label is a template, never the raw path: the fast route's path, else the route FastAPI's
router matched (`/api/v1/requests/{number}`), else `other` (nothing matched: scanners, typos).
The label set of each answer is bound once (`intake.metrics.Bound`), so a request costs two
clock reads, a dict lookup and the histogram's increment.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.metrics import OTHER, http_child

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            status = status or 500  # the error middleware outside answers 500
            raise
        finally:
            if status:  # 0: the client went away before any answer
                observe(scope, status, time.perf_counter() - started)


def observe(scope: Scope, status: int, seconds: float) -> None:
    method = scope["method"]
    http_child(
        method if method in METHODS else OTHER,
        route_template(scope),
        _CLASSES.get(status // 100, OTHER),
    ).observe(seconds)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path_format", None) or getattr(route, "path", OTHER))
    fast = getattr(getattr(scope.get("app"), "state", None), "fast_routes", None)
    if fast and (scope["method"], scope["path"]) in fast:
        return str(scope["path"])
    return OTHER
