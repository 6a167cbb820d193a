"""Headers that keep a browser from misusing our answers: framing (clickjacking on the form and
the rating links), type sniffing, referrers that would carry a status page's URL elsewhere,
and a Content-Security-Policy that runs no script but our own files.

The citizens' pages carry no script at all; their styles are inline (a `<style>` block in
the form's template, `style` attributes on the rating page), hence `'unsafe-inline'` for
styles only. A response that brings its own policy (`/docs`) keeps it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_CSP = b"content-security-policy"
_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """Pure ASGI: adds the headers to every HTTP answer's start, the fast lanes' too."""

    def __init__(self, app: ASGIApp, *, policy: str = POLICY) -> None:
        self.app = app
        self._policy = (_CSP, policy.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _ALWAYS if h[0] not in present)
                if _CSP not in present:
                    headers.append(self._policy)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
