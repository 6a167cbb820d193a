"""The console's reports page: supervisors and admins see the KPIs per department, the
tickets per day and the hot topics; other roles are refused."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from intake.config import Settings
from intake.directory.departments import open_catalog
from intake.domain.enums import Role
from intake.privacy.audit import AuditEntry
from intake.runtime import Runtime
from service.app import create_app
from tests.console.helpers import make_staff, sign_in
from tests.integration.test_kpis import data_set


async def test_reports_page(clean_runtime: Runtime, settings: Settings) -> None:
    await open_catalog(clean_runtime.db, departments_file=settings.catalog.departments_file)
    app = create_app(settings, runtime=clean_runtime)
    await data_set(clean_runtime)
    await make_staff(clean_runtime, "督办员", Role.SUPERVISOR)
    await make_staff(clean_runtime, "话务员", Role.AGENT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/console/reports")).status_code == 303  # sign in first
        await sign_in(http, "督办员")
        page = await http.get("/console/reports", params={"from": "2026-11-01", "to": "2026-11-30"})
        assert page.status_code == 200
        assert "受理诉求 8 件" in page.text and "<small>3/6</small>" in page.text
        assert page.text.count("<rect ") == 30 and "environment" in page.text
        period = {"from": "2026-11-01", "to": "2026-11-30"}
        assert "/console/reports/export/kpis?" in page.text
        sheet = await http.get("/console/reports/export/kpis", params={**period, "format": "xlsx"})
        assert sheet.status_code == 200 and sheet.content[:2] == b"PK"  # a zip: the workbook
        assert "attachment" in sheet.headers["content-disposition"]
        rows = await http.get("/console/reports/export/tickets", params={**period, "format": "csv"})
        assert rows.status_code == 200 and rows.text.count("\n") >= 9  # a header and 8 tickets
        assert (await http.get("/console/reports/export/other")).status_code == 422
        async with clean_runtime.db.read() as session:
            actions = (await session.execute(select(AuditEntry.action))).scalars().all()
        assert {"export_kpis", "export_tickets"} <= set(actions)  # audited as the API's
        bad = await http.get("/console/reports", params={"from": "2026-02-31"})
        assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await sign_in(http, "话务员")
        assert (await http.get("/console/reports")).status_code == 403
        assert (await http.get("/console/reports/export/kpis")).status_code == 403
