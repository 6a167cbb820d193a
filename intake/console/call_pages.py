"""来电录入: the agent's page for a phone call, and the two fragments it fetches as the agent
types (the caller's tickets, 来电弹屏; triage's suggestions). Filing goes through
`intake.calls.filing`, the function behind `POST /api/v1/tickets`, so the page and the API
share every rule. The fragments are POSTed with the form's CSRF token: a caller's number or
words never travel in a URL, where access logs would keep them."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.responses import Response

from intake.calls.caller import caller_tickets
from intake.calls.filing import CALL_ROLES, file_call
from intake.calls.request import CallRequest, reasons
from intake.calls.suggestions import suggest
from intake.console import labels
from intake.console.pages import (
    TEMPLATES,
    Signed,
    check_csrf,
    codec_of,
    departments_of,
    render,
    runtime_of,
    signed_in,
)
from intake.console.views import deadline
from intake.domain.enums import RequestType
from intake.domain.errors import Conflict, Forbidden, IntakeError, InvalidInput
from intake.domain.phones import normalize_phone

FIELDS = ("phone", "request_type", "content", "address", "name", "title", "answer", "kb_entry")
MAX_FIELD = 5000


def add_routes(api: APIRouter) -> None:
    api.add_api_route("/calls/new", new_call, methods=["GET"])
    api.add_api_route("/calls", file, methods=["POST"])
    api.add_api_route("/calls/caller", caller, methods=["POST"])
    api.add_api_route("/calls/suggest", suggestions, methods=["POST"])


async def _agent(request: Request) -> Signed:
    signed = await signed_in(request)
    if signed.role not in CALL_ROLES:
        raise Forbidden("来电录入仅限话务员、督办和管理员 (for the hotline's roles)")
    return signed


def _form(
    request: Request,
    signed: Signed,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "error": "；".join(errors.values()) if errors else None,
        "call_id": values.get("call_id") or uuid.uuid4().hex,
        "request_types": [(t.value, t.label_zh) for t in RequestType],
    }
    return render(request, "call_new.html", context, signed=signed, status_code=status_code)


async def new_call(request: Request) -> Response:
    signed = await _agent(request)
    return _form(request, signed, values={}, errors={})


def _call_of(fields: dict[str, Any]) -> dict[str, Any]:
    data = {name: str(fields.get(name) or "")[:MAX_FIELD] for name in FIELDS}
    data["call_id"] = str(fields.get("call_id") or "")[:200]
    if not data["request_type"]:
        del data["request_type"]  # left to triage, as for a call-centre system's
    data["anonymous"] = str(fields.get("anonymous") or "").lower() in {"on", "true", "1"}
    link = str(fields.get("link_to") or "").strip()
    if link:  # the 关联 button of one of the caller's tickets was pressed
        data["link_to"], data["answer"], data["kb_entry"] = link[:20], "", ""
    elif fields.get("decision") != "answer":
        data["answer"], data["kb_entry"] = "", ""
    return data


async def file(request: Request) -> Response:
    signed = await _agent(request)
    fields = await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    data = _call_of(fields)
    if fields.get("decision") == "answer" and not data["answer"].strip():
        errors = {"answer": "直接答复需要填写答复内容 (the answer is empty)"}
        return _form(request, signed, values=data, errors=errors, status_code=422)
    try:
        call = CallRequest.model_validate(data)
        receipt = await file_call(runtime, signed.staff, call)
    except ValidationError as exc:
        errors = {r["field"]: r["message"] for r in reasons(exc)}
        return _form(request, signed, values=data, errors=errors, status_code=422)
    except (InvalidInput, Conflict) as exc:
        field = exc.field if isinstance(exc, InvalidInput) and exc.field else "call"
        status = 422 if isinstance(exc, InvalidInput) else 409
        return _form(request, signed, values=data, errors={field: str(exc)}, status_code=status)
    return render(request, "call_done.html", {"r": receipt}, signed=signed, status_code=201)


def _fragment(request: Request, signed: Signed, template: str, context: dict[str, Any]) -> Response:
    html = TEMPLATES.get_template(template).render(labels=labels, **context)
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = "no-store"
    codec_of(request).write(response, request, signed.session)  # typing keeps it alive
    return response


async def caller(request: Request) -> Response:
    """来电弹屏: the caller's open and recent tickets, as a fragment of the form."""
    signed = await _agent(request)
    fields = await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    raw = str(fields.get("phone") or "").strip()[:40]
    try:
        phone = normalize_phone(raw) if sum(c.isdigit() for c in raw) >= 7 else None
    except IntakeError:
        phone = None
    rows = []
    if phone is not None:
        now = runtime.clock()
        async with runtime.db.read() as db:
            found = await caller_tickets(
                db,
                phone=phone,
                staff=signed.staff,
                now=now,
                window_days=runtime.settings.pipeline.closed_reply_window_days,
            )
        rows = [(c.ticket, c.linkable, deadline(c.ticket, now)) for c in found]
    context = {"rows": rows, "phone": phone, "typed": bool(raw)}
    return _fragment(request, signed, "call_caller.html", context)


async def suggestions(request: Request) -> Response:
    """Triage's suggestions for the content as typed so far, as a fragment of the form."""
    signed = await _agent(request)
    fields = await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    found = suggest(
        runtime.triage,
        await departments_of(request),
        text=str(fields.get("content") or "")[:MAX_FIELD],
        address=str(fields.get("address") or "")[:300] or None,
        request_type=str(fields.get("request_type") or "") or None,
    )
    context = {"s": found, "triage_on": runtime.triage is not None}
    return _fragment(request, signed, "call_suggest.html", context)
