"""The console's session: one signed cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS).

The cookie holds the staff id, the account's `session_version` (a new password, disabling or
token rotation ends every older session), a CSRF token and nothing personal; it is signed with
the service's secret key and re-issued on every page, so it expires `idle_minutes` after the
last request. Forms carry the CSRF token in a hidden field, compared in constant time; the
sign-in form has one too (from a cookie without a staff id), and signing in issues a new token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "intake_console"
PATH = "/console"


@dataclass(frozen=True)
class ConsoleSession:
    csrf: str
    staff_id: int | None = None
    version: int = 0


class SessionCodec:
    def __init__(self, *, secret: str, idle_seconds: int, https: bool) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="intake-console-session")
        self.idle_seconds = idle_seconds
        self._https = https

    def read(self, request: Request) -> ConsoleSession | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=self.idle_seconds)
            return ConsoleSession(
                csrf=str(data["c"]),
                staff_id=int(data["s"]) if data.get("s") is not None else None,
                version=int(data.get("v", 0)),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None  # tampered, expired (idle) or of an older format: sign in again

    def write(self, response: Response, request: Request, session: ConsoleSession) -> None:
        value = self._signer.dumps({"c": session.csrf, "s": session.staff_id, "v": session.version})
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.idle_seconds,
            path=PATH,
            httponly=True,
            samesite="lax",
            secure=self._https or request.url.scheme == "https",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax")


def new_session(staff_id: int | None = None, version: int = 0) -> ConsoleSession:
    return ConsoleSession(csrf=secrets.token_urlsafe(24), staff_id=staff_id, version=version)


def csrf_ok(session: ConsoleSession | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())
