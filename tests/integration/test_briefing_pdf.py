"""The briefing as PDF: the Chinese text and the figures are in the document as text, by
the library, the HTTP route (supervisors and admins, audited) and the CLI."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import httpx
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner

from intake.config import Settings
from intake.domain.enums import Role
from intake.privacy.audit import AuditEntry
from intake.reports.briefing import Briefing
from intake.reports.briefing_pdf import briefing_document
from intake.runtime import Runtime
from service.app import create_app
from service.cli import app as root
from tests.console.helpers import make_staff, sign_in
from tests.integration.actions import staff_member
from tests.integration.test_kpis import data_set


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def test_monthly_pdf_carries_the_figures_as_text(clean_runtime: Runtime) -> None:
    await data_set(clean_runtime)
    async with clean_runtime.db.read() as session:
        document = await briefing_document(session, kind=Briefing.MONTHLY, today=date(2026, 12, 6))
    assert document.pdf is not None
    text = pdf_text(document.pdf)
    assert "12345热线月简报" in text and "受理诉求 8 件" in text
    assert "考核指标" in text and "近30日热点" in text and "3/6" in text
    assert document.title == "12345热线月简报 2026-11-01 至 2026-11-30"
    assert document.filename() == "briefing-monthly-2026-11-01.pdf"


async def test_briefing_route_for_supervisors_audited(
    clean_runtime: Runtime, app_client: httpx.AsyncClient
) -> None:
    _, sup_token = await staff_member(clean_runtime, Role.SUPERVISOR, name="督办甲")
    _, agent_token = await staff_member(clean_runtime, Role.AGENT, name="话务员甲")
    sup = {"Authorization": f"Bearer {sup_token}"}
    url = "/api/v1/reports/briefing"

    answer = await app_client.get(url, params={"kind": "weekly"}, headers=sup)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert 'filename="briefing-weekly-' in answer.headers["content-disposition"]
    assert "12345热线周分析" in pdf_text(answer.content)

    page = await app_client.get(url, params={"kind": "daily", "format": "html"}, headers=sup)
    assert page.status_code == 200 and "12345热线日监测" in page.text

    agent = {"Authorization": f"Bearer {agent_token}"}
    assert (await app_client.get(url, headers=agent)).status_code == 403
    assert (await app_client.get(url)).status_code == 401
    bad = await app_client.get(url, params={"kind": "yearly"}, headers=sup)
    assert bad.status_code == 422
    bad = await app_client.get(url, params={"format": "docx"}, headers=sup)
    assert bad.status_code == 422

    async with clean_runtime.db.read() as session:
        entries = list(await session.scalars(select(AuditEntry)))
    briefings = [e for e in entries if e.action == "export_briefing"]
    assert len(briefings) == 1 and briefings[0].subject.startswith("weekly:")


def test_cli_writes_a_pdf(tmp_path: Path) -> None:
    env = {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": ""}
    out = tmp_path / "daily.pdf"
    result = CliRunner().invoke(
        root, ["report", "briefing", "--kind", "daily", "--format", "pdf", "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.stderr
    assert "12345热线日监测" in pdf_text(out.read_bytes())
    result = CliRunner().invoke(root, ["report", "briefing", "--kind", "daily", "--format", "doc"])
    assert result.exit_code != 0


async def test_console_link_gives_the_pdf(clean_runtime: Runtime, settings: Settings) -> None:
    app = create_app(settings, runtime=clean_runtime)
    await make_staff(clean_runtime, "督办乙", Role.SUPERVISOR)
    await make_staff(clean_runtime, "话务员乙", Role.AGENT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        url = "/console/reports/briefing"
        assert (await http.get(url)).status_code == 303  # sign in first
        await sign_in(http, "督办乙")
        page = await http.get("/console/reports")
        assert f'href="{url}?kind=monthly"' in page.text
        answer = await http.get(url, params={"kind": "monthly"})
        assert answer.status_code == 200 and "12345热线月简报" in pdf_text(answer.content)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await sign_in(http, "话务员乙")
        assert (await http.get(url)).status_code == 403
