"""`/api/v1/reports/…`: the KPIs and hot topics, for supervisors and admins (bearer token).
CSV answers are recorded in the audit log: they leave the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from intake.api.deps import RuntimeDep, StaffDep
from intake.domain.clock import SHANGHAI
from intake.domain.enums import Role
from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.models import Staff
from intake.privacy.audit import record
from intake.reports.briefing_routes import briefing
from intake.reports.export import HOT_COLUMNS, KPI_COLUMNS, hot_rows, to_csv, to_xlsx
from intake.reports.hot import Rules, compute_hot
from intake.reports.kpis import compute_kpis
from intake.reports.period import Period
from intake.reports.tickets_export import TICKET_COLUMNS, ticket_rows
from intake.runtime import Runtime

READERS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
FORMATS = ("json", "csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def router() -> APIRouter:
    """Mount with `app.include_router(intake.reports.routes.router())`."""
    api = APIRouter(prefix="/api/v1/reports", tags=["reports"])
    api.add_api_route("/kpis", kpis, methods=["GET"], summary="The 12345 KPIs of a period")
    api.add_api_route("/hot-topics", hot_topics, methods=["GET"], summary="Hot topics, spikes")
    api.add_api_route(
        "/tickets", tickets, methods=["GET"], summary="Tickets of a period (CSV, XLSX)"
    )
    api.add_api_route(
        "/briefing", briefing, methods=["GET"], summary="The daily/weekly/monthly briefing (PDF)"
    )
    return api


async def kpis(
    runtime: RuntimeDep,
    staff: StaffDep,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=16)] = None,
    format: Annotated[str, Query(description="json | csv | xlsx")] = "json",
) -> Response:
    """Each KPI overall and per department, with its numerator and denominator."""
    _may_read(staff, format)
    period = Period.parse(from_, to, today=runtime.clock().astimezone(SHANGHAI).date())
    async with runtime.db.read() as session:
        report = await compute_kpis(
            session, period=period, department=department or None, channel=channel or None
        )
    name = f"kpis-{period.first}-{period.last}"
    if format != "json":
        await _audited(runtime, staff, "export_kpis", f"{period.first}..{period.last}")
    if format == "csv":
        return _csv(to_csv(report.rows(), KPI_COLUMNS), name)
    if format == "xlsx":
        return _xlsx(to_xlsx(report.rows(), KPI_COLUMNS, title="KPI"), name)
    return _json(report.as_dict())


async def tickets(
    runtime: RuntimeDep,
    staff: StaffDep,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[str, Query(description="csv | xlsx")] = "csv",
) -> Response:
    """The tickets received in a period, masked as the console masks them; audited."""
    _may_read(staff, format)
    if format == "json":
        raise InvalidInput("tickets are exported as csv or xlsx", field="format")
    period = Period.parse(from_, to, today=runtime.clock().astimezone(SHANGHAI).date())
    async with runtime.db.read() as session:
        rows = [r async for r in ticket_rows(session, period=period, department=department)]
    await _audited(runtime, staff, "export_tickets", f"{period.first}..{period.last}")
    name = f"tickets-{period.first}-{period.last}"
    if format == "xlsx":
        return _xlsx(to_xlsx(rows, TICKET_COLUMNS, title="工单"), name)
    return _csv(to_csv(rows, TICKET_COLUMNS), name)


async def hot_topics(
    runtime: RuntimeDep,
    staff: StaffDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
    min_count: Annotated[int, Query(ge=1)] = 5,
    ratio: Annotated[float, Query(gt=1, le=100)] = 2.0,
    format: Annotated[str, Query(description="json | csv")] = "json",
) -> Response:
    """The top categories, streets and words of the last `days` days, spikes flagged."""
    _may_read(staff, format)
    today = runtime.clock().astimezone(SHANGHAI).date()
    period = Period.last_days(days, today=today)
    async with runtime.db.read() as session:
        hot = await compute_hot(
            session, period=period, today=today, rules=Rules(top, min_count, ratio)
        )
    if format == "xlsx":
        raise InvalidInput("hot topics are json or csv", field="format")
    if format == "csv":
        await _audited(runtime, staff, "export_hot_topics", f"{period.first}..{period.last}")
        return _csv(to_csv(hot_rows(hot), HOT_COLUMNS), f"hot-topics-{period.last}")
    return _json(hot)


def _may_read(staff: Staff, fmt: str) -> None:
    if staff.role not in READERS:
        raise Forbidden("reports are for supervisors and admins")
    if fmt not in FORMATS:
        raise InvalidInput("format is json, csv or xlsx", field="format")


async def _audited(runtime: Runtime, staff: Staff, action: str, subject: str) -> None:
    async with runtime.db.write() as session, session.begin():
        record(
            session,
            action=action,
            operator=f"staff:{staff.id}",
            subject=subject,
            at=runtime.clock(),
            details={"role": staff.role},
        )


def _json(data: object) -> Response:
    import orjson

    return Response(orjson.dumps(data), media_type="application/json")


def _csv(text: str, name: str) -> Response:
    return Response(
        "\ufeff" + text,  # the BOM makes spreadsheets read the Chinese labels as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _xlsx(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
