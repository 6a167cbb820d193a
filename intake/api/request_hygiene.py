"""Refuse a URL no route should see: control characters or broken UTF-8 in the path or query.

A NUL in a path or query parameter reached PostgreSQL, which refuses it, and became a 500.
This middleware answers 400 with the reason before any route runs. Paths of routes that read
their query as raw bytes (Kannel's get-url carries UTF-16 text, full of `%00`) are listed in
`app.state.raw_query_paths` by the connectors that own them; only their query is let through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from intake.api.asgi_answers import send_json
from intake.domain.text_hygiene import is_clean

log = logging.getLogger(__name__)

# printable ASCII without '%': nothing to decode, nothing to refuse (most requests)
_PLAIN = re.compile(rb"[\x21-\x24\x26-\x7e]*")


def url_problem(raw: bytes, *, query: bool) -> str | None:
    """Why a percent-encoded path or query is refused, or None when it is fine."""
    if _PLAIN.fullmatch(raw):
        return None
    parts = raw.replace(b"+", b" ").split(b"&") if query else [raw]
    for part in parts:
        for piece in part.split(b"=", 1) if query else [part]:
            try:
                text = unquote_to_bytes(piece).decode("utf-8")
            except UnicodeDecodeError:
                return "not valid UTF-8 once percent-decoded"
            if not is_clean(text):
                return "contains control characters (such as NUL)"
    return None


class RequestHygiene:
    """ASGI middleware: 400 for a path or query string with control characters or bad UTF-8."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = _problem(scope)
            if problem is not None:
                where, why = problem
                log.info("refused %s: %s %s", scope.get("method"), where, why)
                return await send_json(send, 400, {"detail": f"{where} {why}", "field": where})
        await self.app(scope, receive, send)


def _problem(scope: Scope) -> tuple[str, str] | None:
    raw_path = scope.get("raw_path")
    path = url_problem(raw_path, query=False) if raw_path else _text_problem(scope["path"])
    if path is not None:
        return "path", path
    query_string: bytes = scope.get("query_string", b"")
    if query_string and scope["path"] not in _raw_query_paths(scope):
        query = url_problem(query_string, query=True)
        if query is not None:
            return "query", query
    return None


def _text_problem(path: str) -> str | None:
    return None if is_clean(path) else "contains control characters (such as NUL)"


def _raw_query_paths(scope: Scope) -> Collection[str]:
    paths: Collection[str] = getattr(
        getattr(scope.get("app"), "state", None), "raw_query_paths", ()
    )
    return paths
