"""The console's routes: sign-in and out, inboxes with polling, and the router that mounts
the ticket and admin pages. `router()` is all the app factory needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.responses import Response

from intake.api.client_ip import client_ip
from intake.console import admin_pages, call_pages, inbox, ticket_pages
from intake.console.accounts import sign_in
from intake.console.pages import (
    LOGIN,
    TEMPLATES,
    Signed,
    check_csrf,
    codec_of,
    departments_of,
    render,
    runtime_of,
    signed_in,
)
from intake.console.session import new_session
from intake.console.views import deadline
from intake.domain.errors import IntakeError, TooManyRequests, Unauthorized

STATIC = Path(__file__).parent / "static"
SignedDep = Annotated[Signed, Depends(signed_in)]
Id = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
After = Annotated[int, Query(ge=0, le=2**63 - 1)]


def router() -> APIRouter:
    """Every `/console` route (pages, polling, files, static assets)."""
    api = APIRouter(prefix="/console", include_in_schema=False)
    api.add_api_route("", home, methods=["GET"])
    api.add_api_route("/login", login_page, methods=["GET"])
    api.add_api_route("/login", login, methods=["POST"])
    api.add_api_route("/logout", logout, methods=["POST"])
    api.add_api_route("/inbox", inbox_page, methods=["GET"])
    api.add_api_route("/poll", poll, methods=["GET"])
    api.add_api_route("/static/{name}", static, methods=["GET"])
    ticket_pages.add_routes(api)
    admin_pages.add_routes(api)
    call_pages.add_routes(api)
    return api


async def home(request: Request) -> Response:
    session = codec_of(request).read(request)
    target = "/console/inbox" if session and session.staff_id else LOGIN
    return RedirectResponse(target, status_code=303)


async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"error": None, "username": ""})


async def login(request: Request) -> Response:
    session = codec_of(request).read(request)
    fields = await check_csrf(request, session)
    runtime = runtime_of(request)
    username = str(fields.get("username", ""))[:100]
    try:
        async with runtime.db.write() as db, db.begin():
            staff = await sign_in(
                db,
                name=username,
                password=str(fields.get("password", "")),
                limiter=runtime.limiter,
                ip=client_ip(request.scope, runtime.settings.http.trusted_proxies) or "unknown",
                now=runtime.clock(),
            )
            signed = new_session(staff.id, staff.session_version or 0)
    except (Unauthorized, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 401
        context = {"error": str(exc), "username": username}
        response = render(request, "login.html", context, session=session, status_code=status)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse("/console/inbox", status_code=303)
    codec_of(request).write(response, request, signed)  # a new CSRF token with the session
    return response


async def logout(request: Request) -> Response:
    await check_csrf(request, codec_of(request).read(request))
    response = RedirectResponse(LOGIN, status_code=303)
    codec_of(request).clear(response)
    return response


async def inbox_page(request: Request, signed: SignedDep, before: Id = None) -> Response:
    runtime = runtime_of(request)
    params = dict(request.query_params)
    now = runtime.clock()
    try:
        box = inbox.box_for(signed.staff, params.get("box"))
        filters = inbox.Filters.of(params)
        async with runtime.db.read() as db:
            rows = await inbox.page(db, staff=signed.staff, box=box, filters=filters, now=now,
                                    before_id=before)
            counts = await inbox.counts(db, staff=signed.staff, now=now)
        error = None
    except IntakeError as exc:
        box, filters, rows, error = inbox.box_for(signed.staff, None), inbox.Filters(), [], str(exc)
        async with runtime.db.read() as db:
            counts = await inbox.counts(db, staff=signed.staff, now=now)
    catalog = await departments_of(request)
    context: dict[str, Any] = {
        "box": box,
        "boxes": inbox.boxes_for(signed.staff),
        "counts": counts,
        "cap": inbox.COUNT_CAP,
        "rows": [(t, deadline(t, now)) for t in rows],
        "filters": filters,
        "departments": catalog.departments,
        "more": len(rows) == inbox.PAGE,
        "error": error,
        "poll_seconds": runtime.settings.console.poll_seconds,
        "latest": max((t.id for t in rows), default=0),
    }
    return render(request, "inbox.html", context, signed=signed, status_code=422 if error else 200)


async def poll(request: Request, signed: SignedDep, after: After = 0) -> Response:
    """What is new in the open inbox since `after`: rows to put on top, and the counts."""
    runtime = runtime_of(request)
    now = runtime.clock()
    try:
        box = inbox.box_for(signed.staff, request.query_params.get("box"))
        filters = inbox.Filters.of(dict(request.query_params))
    except IntakeError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    async with runtime.db.read() as db:
        rows = await inbox.page(db, staff=signed.staff, box=box, filters=filters, now=now,
                                after_id=after)
        counts = await inbox.counts(db, staff=signed.staff, now=now)
    html = TEMPLATES.get_template("rows.html").render(rows=[(t, deadline(t, now)) for t in rows])
    latest = max((t.id for t in rows), default=after)
    response = JSONResponse({"rows": html, "latest": latest, "new": len(rows), "counts": counts})
    response.headers["Cache-Control"] = "no-store"
    codec_of(request).write(response, request, signed.session)
    return response


async def static(name: str) -> Response:
    allowed = {
        "console.js": "text/javascript",
        "console.css": "text/css",
        "calls.js": "text/javascript",
    }
    if name not in allowed:
        return Response(status_code=404)
    return FileResponse(STATIC / name, media_type=allowed[name])
