"""The briefing as a page or a PDF: `GET /api/v1/reports/briefing` (bearer token) and
`GET /console/reports/briefing` (the console's session), for supervisors and admins.
A PDF leaves the service, so handing one out is recorded in the audit log like an export."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from intake.api.deps import RuntimeDep, StaffDep
from intake.console.pages import require_role, runtime_of, signed_in
from intake.domain.clock import SHANGHAI
from intake.domain.enums import Role
from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.models import Staff
from intake.privacy.audit import record
from intake.reports.briefing import Briefing
from intake.reports.briefing_pdf import PDF, briefing_document
from intake.runtime import Runtime

READERS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
KindParam = Annotated[str, Query(max_length=16, description="daily | weekly | monthly")]
FormatParam = Annotated[str, Query(max_length=8, description="html | pdf")]


async def briefing(
    runtime: RuntimeDep, staff: StaffDep, kind: KindParam = "daily", format: FormatParam = "pdf"
) -> Response:
    """The 日监测 / 周分析 / 月简报 as of today, as HTML or PDF."""
    if staff.role not in READERS:
        raise Forbidden("reports are for supervisors and admins")
    return await _answer(runtime, staff, kind, format)


async def console_briefing(
    request: Request, kind: KindParam = "daily", format: FormatParam = "pdf"
) -> Response:
    signed = await signed_in(request)
    require_role(signed, Role.SUPERVISOR, Role.ADMIN)
    return await _answer(runtime_of(request), signed.staff, kind, format)


async def _answer(runtime: Runtime, staff: Staff, kind: str, fmt: str) -> Response:
    chosen = _kind(kind)
    if fmt not in ("html", "pdf"):
        raise InvalidInput("format is html or pdf", field="format")
    today = runtime.clock().astimezone(SHANGHAI).date()
    async with runtime.db.read() as session:
        document = await briefing_document(session, kind=chosen, today=today, pdf=fmt == "pdf")
    if document.pdf is None:
        return HTMLResponse(document.html)
    async with runtime.db.write() as session, session.begin():
        record(
            session,
            action="export_briefing",
            operator=f"staff:{staff.id}",
            subject=f"{chosen.value}:{document.period.first}..{document.period.last}",
            at=runtime.clock(),
            details={"role": staff.role, "format": fmt},
        )
    return Response(
        document.pdf,
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{document.filename()}"'},
    )


def _kind(value: str) -> Briefing:
    try:
        return Briefing(value.strip().lower())
    except ValueError:
        raise InvalidInput("kind is daily, weekly or monthly", field="kind") from None
