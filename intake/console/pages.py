"""What every console page shares: the templates, the signed-in staff member, the cookie.

A page that needs a signed-in member asks `signed_in(request)`: without a valid session (none,
tampered, idle too long, or from before a password change) the browser is sent to the sign-in
page. Every answer to a signed-in member re-issues the cookie, which keeps an active session
alive and lets an idle one expire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from intake.catalog import Catalog
from intake.console import labels
from intake.console.session import ConsoleSession, SessionCodec, csrf_ok, new_session
from intake.directory.departments import load_catalog
from intake.domain.enums import Role
from intake.domain.errors import Forbidden
from intake.domain.models import Staff
from intake.runtime import Runtime

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.globals.update(labels=labels, urlencode=urlencode)
LOGIN = "/console/login"


DEPARTMENTS_TTL_S = 30.0  # an administrator's change shows in every process within this


async def departments_of(request: Request) -> Catalog:
    """The departments for menus and filters, read from the table at most every 30 s."""
    cached: tuple[float, Catalog] | None = getattr(request.app.state, "console_departments", None)
    now = time.monotonic()
    if cached is None or cached[0] < now:
        async with runtime_of(request).db.read() as db:
            cached = (now + DEPARTMENTS_TTL_S, await load_catalog(db))
        request.app.state.console_departments = cached
    return cached[1]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def codec_of(request: Request) -> SessionCodec:
    runtime = runtime_of(request)
    return SessionCodec(
        secret=runtime.secret_key,
        idle_seconds=runtime.settings.console.idle_minutes * 60,
        https=runtime.settings.public_url.startswith("https://"),
    )


@dataclass(frozen=True)
class Signed:
    staff: Staff
    session: ConsoleSession

    @property
    def role(self) -> Role:
        return Role(self.staff.role)


async def signed_in(request: Request) -> Signed:
    session = codec_of(request).read(request)
    if session is None or session.staff_id is None:
        raise HTTPException(303, headers={"Location": LOGIN})
    runtime = runtime_of(request)
    async with runtime.db.read() as db:
        staff = await db.get(Staff, session.staff_id)
    if staff is None or not staff.active or (staff.session_version or 0) != session.version:
        raise HTTPException(303, headers={"Location": LOGIN})
    return Signed(staff=staff, session=session)


def require_role(signed: Signed, *roles: Role) -> None:
    if signed.role not in roles:
        raise Forbidden("这个页面不属于您的角色 (not for your role)")


async def check_csrf(request: Request, session: ConsoleSession | None) -> dict[str, Any]:
    """The form's fields, once its CSRF token matched the session's (else 403)."""
    form = await request.form()
    token = form.get("csrf")
    if not csrf_ok(session, token if isinstance(token, str) else None):
        raise HTTPException(403, "表单已过期，请刷新页面后重试 (CSRF check failed)")
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        fields[key] = values if len(values) > 1 else values[0]
    return fields


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    signed: Signed | None = None,
    session: ConsoleSession | None = None,
    status_code: int = 200,
) -> Response:
    session = signed.session if signed else session or new_session()
    context = {"me": signed.staff if signed else None, "csrf": session.csrf, **context}
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # personal data stays out of caches
    codec_of(request).write(response, request, session)
    return response
