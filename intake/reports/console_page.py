"""The console's reports page for supervisors and admins: the KPIs per department, tickets
per day, and the hot topics with their spikes (`/console/reports`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from intake.console.pages import render, require_role, runtime_of, signed_in
from intake.domain.clock import SHANGHAI
from intake.domain.enums import Role
from intake.domain.errors import InvalidInput
from intake.reports import routes as reports_api
from intake.reports.briefing import CHART_HEIGHT, CHART_WIDTH, bars, tickets_per_day
from intake.reports.briefing_routes import console_briefing
from intake.reports.hot import compute_hot
from intake.reports.kpis import KPIS, compute_kpis
from intake.reports.period import Period

DateParam = Annotated[str | None, Query(max_length=10)]


def router() -> APIRouter:
    """Mount with `app.include_router(intake.reports.console_page.router())`."""
    api = APIRouter(prefix="/console", include_in_schema=False)
    api.add_api_route("/reports", reports_page, methods=["GET"])
    api.add_api_route("/reports/briefing", console_briefing, methods=["GET"])
    api.add_api_route("/reports/export/{what}", export, methods=["GET"])
    return api


async def export(
    request: Request,
    what: str,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: DateParam = None,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
) -> Response:
    """The API's exports (KPIs, tickets) for a signed-in supervisor or admin: a browser sends
    the session cookie, not a bearer token. Same masking, same audit record."""
    signed = await signed_in(request)
    require_role(signed, Role.SUPERVISOR, Role.ADMIN)
    runtime = runtime_of(request)
    if what == "kpis":
        return await reports_api.kpis(runtime, signed.staff, from_, to, None, None, format)
    if what == "tickets":
        return await reports_api.tickets(runtime, signed.staff, from_, to, None, format)
    raise InvalidInput("export kpis or tickets", field="what")


async def reports_page(
    request: Request,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: DateParam = None,
) -> Response:
    signed = await signed_in(request)
    require_role(signed, Role.SUPERVISOR, Role.ADMIN)
    runtime = runtime_of(request)
    today = runtime.clock().astimezone(SHANGHAI).date()
    error = None
    try:
        period = Period.parse(from_, to, today=today)
    except InvalidInput as exc:
        period, error = Period.last_days(30, today=today), str(exc)
    async with runtime.db.read() as session:
        kpis = (await compute_kpis(session, period=period)).as_dict()
        per_day = await tickets_per_day(session, period)
        hot = await compute_hot(session, period=Period.last_days(30, today=today), today=today)
    context = {
        "period": period,
        "kpis": kpis,
        "names": KPIS,
        "bars": bars(per_day),
        "total": sum(per_day.values()),
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
        "hot": hot,
        "error": error,
    }
    return render(request, "reports.html", context, signed=signed)
