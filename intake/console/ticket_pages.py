"""The ticket page: the citizen's messages, the timeline, triage's suggestion, related tickets,
and the actions as forms. Actions go through `intake.tickets.actions.perform`, the function behind
the
staff API, so the console and the API share every state rule and role check."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import filetype
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from intake.console.pages import Signed, check_csrf, render, runtime_of, signed_in
from intake.console.views import contact, deadline, hides_contact, may_reveal
from intake.directory.departments import load_catalog
from intake.domain.enums import EventKind, RequestType, Role, TicketStatus
from intake.domain.errors import Forbidden, IntakeError, InvalidInput, NotFound
from intake.domain.lifecycle import Action, available_actions
from intake.domain.models import AttachmentRecord, Staff, Ticket
from intake.privacy import audit
from intake.tickets.actions import ActionRequest, _scoped, get_ticket, perform

VIEW, REVEAL = "ticket_view", "contact_reveal"
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
DOWNLOADS = INLINE_IMAGES | {
    "application/pdf",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "video/mp4",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_STATUS = {InvalidInput: 422, Forbidden: 403, NotFound: 404}


def add_routes(api: APIRouter) -> None:
    api.add_api_route("/tickets/{number}", ticket_page, methods=["GET"])
    api.add_api_route("/tickets/{number}/act", act, methods=["POST"])
    api.add_api_route("/tickets/{number}/reveal", reveal, methods=["POST"])
    api.add_api_route("/tickets/{number}/files/{file_id}", attachment, methods=["GET"])


async def ticket_page(request: Request, number: str) -> Response:
    signed = await signed_in(request)
    done = request.query_params.get("done")
    return await _show(request, signed, number, notice=done, revealed=False)


async def _show(
    request: Request,
    signed: Signed,
    number: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    revealed: bool = False,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    now = runtime.clock()
    async with runtime.db.write() as db, db.begin():
        try:
            ticket = await get_ticket(db, number=number, staff=signed.staff)
        except NotFound:
            raise HTTPException(404, f"没有工单 {number}（或不在您的权限内）") from None
        audit.record(
            db, action=VIEW, operator=signed.staff.name, subject=ticket.number, at=now,
            details={"staff_id": signed.staff.id, "role": signed.staff.role},
        )
        context = await _context(db, runtime, signed.staff, ticket, now=now, revealed=revealed)
    context.update(notice=notice, error=error)
    return render(request, "ticket.html", context, signed=signed, status_code=status_code)


async def _context(
    db: AsyncSession, runtime: Any, staff: Staff, ticket: Ticket, *, now: Any, revealed: bool
) -> dict[str, Any]:
    role = Role(staff.role)
    triaged = [e for e in ticket.events if e.kind == EventKind.TRIAGED.value]
    suggestion = triaged[-1].data if triaged else {}
    audit_rows = await _audit(db, ticket.number)
    categories = runtime.triage.triage.catalogue.categories if runtime.triage else None
    return {
        "t": ticket,
        "deadline": deadline(ticket, now),
        "contact": contact(ticket, staff, revealed=revealed),
        "may_reveal": may_reveal(ticket, staff),
        "events": ticket.events,
        "actions": available_actions(_status(ticket), role),
        "departments": (await load_catalog(db)).departments,
        "suggestion": suggestion,
        "categories": [(c.code, c.name) for c in categories.categories] if categories else [],
        "request_types": [(t.value, t.label_zh) for t in RequestType],
        "related": await _related(db, staff, ticket),
        "reveals": [a for a in audit_rows if a.action == REVEAL],
        "views": [a for a in audit_rows if a.action == VIEW][-30:]
        if role in (Role.SUPERVISOR, Role.ADMIN)
        else [],
        "attachments": ticket.attachments,
        "inline_images": INLINE_IMAGES,
    }


def _status(ticket: Ticket) -> TicketStatus:
    return TicketStatus(ticket.status)


async def _audit(db: AsyncSession, number: str) -> list[audit.AuditEntry]:
    query = (
        select(audit.AuditEntry)
        .where(audit.AuditEntry.subject == number, audit.AuditEntry.action.in_((VIEW, REVEAL)))
        .order_by(audit.AuditEntry.id.desc())
        .limit(200)
    )
    return list(reversed(list(await db.scalars(query))))


async def _related(db: AsyncSession, staff: Staff, ticket: Ticket) -> list[Ticket]:
    """Linked tickets (master and those under it) and the citizen's other tickets; a handler
    does not see who else an anonymous citizen is."""
    links = [Ticket.master_ticket_id == ticket.id]
    if ticket.master_ticket_id:
        links.append(Ticket.id == ticket.master_ticket_id)
    if not hides_contact(ticket, staff):
        links.append(Ticket.citizen_id == ticket.citizen_id)
    query = _scoped(select(Ticket), staff).where(or_(*links), Ticket.id != ticket.id)
    return list(await db.scalars(query.order_by(Ticket.id.desc()).limit(20)))


def _request_of(fields: dict[str, Any]) -> ActionRequest:
    def text(name: str, limit: int) -> str | None:
        value = str(fields.get(name) or "").strip()
        return value[:limit] or None

    try:
        action = Action(str(fields.get("action", "")))
    except ValueError:
        raise InvalidInput(f"unknown action '{fields.get('action')}'", field="action") from None
    co = fields.get("co_departments") or []
    days = text("days", 4)
    if days is not None and not days.isdigit():
        raise InvalidInput("days: a whole number of working days", field="days")
    return ActionRequest(
        action=action,
        text=text("text", 5000) or text("reason", 2000),
        department=text("department", 64),
        co_departments=tuple(co if isinstance(co, list) else [co])[:20],
        days=int(days) if days else None,
        refer_to=text("refer_to", 200),
        category=text("category", 64),
        request_type=text("request_type", 64),
    )


async def act(request: Request, number: str) -> Response:
    signed = await signed_in(request)
    fields = await check_csrf(request, signed.session)
    runtime = runtime_of(request)
    try:
        chosen = _request_of(fields)
        async with runtime.db.write() as db, db.begin():
            changed = await perform(
                db,
                number=number,
                request=chosen,
                staff=signed.staff,
                catalog=await load_catalog(db),
                clock=runtime.clock,
                replies_file=runtime.settings.catalog.replies_file,
                categories=runtime.triage.triage.catalogue.categories if runtime.triage else None,
            )
    except IntakeError as exc:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 409)
        if status == 404:
            raise HTTPException(404, f"没有工单 {number}（或不在您的权限内）") from None
        return await _show(request, signed, number, error=str(exc), status_code=status)
    await runtime.relay.flush(ticket_id=changed.id)
    async with runtime.db.read() as db:  # a return or dispatch may take it out of reach
        still_mine = await db.scalar(
            _scoped(select(Ticket.id), signed.staff).where(Ticket.number == number)
        )
    target = f"/console/tickets/{number}?done={chosen.action.value}" if still_mine else (
        f"/console/inbox?done={chosen.action.value}"
    )
    return RedirectResponse(target, status_code=303)


async def reveal(request: Request, number: str) -> Response:
    """Show the full contact once, to the one who asks, with the reason on the record."""
    signed = await signed_in(request)
    fields = await check_csrf(request, signed.session)
    reason = str(fields.get("reason") or "").strip()[:200]
    runtime = runtime_of(request)
    async with runtime.db.write() as db, db.begin():
        try:
            ticket = await get_ticket(db, number=number, staff=signed.staff)
        except NotFound:
            raise HTTPException(404, f"没有工单 {number}（或不在您的权限内）") from None
        if not may_reveal(ticket, signed.staff):
            raise HTTPException(403, "匿名诉求的联系方式对承办单位不可见")
        if reason:
            audit.record(
                db, action=REVEAL, operator=signed.staff.name, subject=ticket.number,
                at=runtime.clock(), details={"staff_id": signed.staff.id, "reason": reason},
            )
    if not reason:
        return await _show(request, signed, number, error="请填写查看原因", status_code=422)
    return await _show(request, signed, number, revealed=True, notice="reveal")


async def attachment(request: Request, number: str, file_id: int) -> Response:
    """A citizen's file, to staff who may see the ticket: a download, or an image shown
    inline when its bytes are the image type allowed (sandboxed, never sniffed)."""
    signed = await signed_in(request)
    runtime = runtime_of(request)
    async with runtime.db.read() as db:
        try:
            ticket = await get_ticket(db, number=number, staff=signed.staff)
        except NotFound:
            raise HTTPException(404, "not found") from None
        record = await db.get(AttachmentRecord, file_id)
    if record is None or record.ticket_id != ticket.id or not record.storage_key:
        raise HTTPException(404, "no such file")
    try:
        path = runtime.attachments.path_of(record.storage_key).resolve()
        data = await asyncio.to_thread(path.read_bytes)
    except (OSError, ValueError):
        raise HTTPException(404, "the file is no longer kept") from None
    kind = filetype.guess_mime(data) or "application/octet-stream"
    inline = request.query_params.get("inline") == "1" and kind in INLINE_IMAGES
    media = kind if kind in DOWNLOADS else "application/octet-stream"
    disposition = "inline" if inline else "attachment"
    ascii_name = "".join(c for c in record.filename if c.isascii() and (c.isalnum() or c in "._-"))
    headers = {
        "Content-Disposition": f'{disposition}; filename="{ascii_name[:100] or "file"}"; '
        f"filename*=UTF-8''{quote(record.filename[:100], safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
    }
    return Response(data, media_type=media, headers=headers)
