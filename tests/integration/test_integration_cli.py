"""`intake apikey`, `intake webhook` and `intake report` as the root CLI mounts them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from intake.integration.cli import apikey_app, webhook_app
from intake.reports.cli import report_app

root = typer.Typer()
root.add_typer(apikey_app, name="apikey")
root.add_typer(webhook_app, name="webhook")
root.add_typer(report_app, name="report")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_DATABASE_URL": ""}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(root, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_api_keys(env: dict[str, str]) -> None:
    code, key, _ = run(env, "apikey", "add", "city-app")
    assert code == 0 and key.strip().startswith("o311_") and len(key.strip()) > 40
    assert run(env, "apikey", "add", "city-app")[0] == 1  # the name is taken
    code, listed, _ = run(env, "apikey", "list")
    assert code == 0 and "city-app\tactive" in listed and key.strip() not in listed
    assert run(env, "apikey", "revoke", "city-app")[0] == 0
    assert "revoked" in run(env, "apikey", "list")[1]
    assert run(env, "apikey", "revoke", "nobody")[0] == 1


def test_webhooks(env: dict[str, str]) -> None:
    code, _, err = run(env, "webhook", "add", "environment", "http://127.0.0.1:9/hook")
    assert code == 1 and "loopback or private" in err
    allowed = {**env, "INTAKE_INTEGRATION__WEBHOOK_ALLOW_PRIVATE": "true"}
    code, secret, _ = run(allowed, "webhook", "add", "environment", "http://127.0.0.1:9/hook")
    assert code == 0 and len(secret.strip()) >= 32
    code, listed, _ = run(env, "webhook", "list")
    assert "environment\thttp://127.0.0.1:9/hook" in listed and secret.strip() not in listed
    assert run(env, "webhook", "add", "no-such-unit", "https://example.com/h")[0] == 1
    assert run(env, "webhook", "remove", "environment")[0] == 0
    assert run(env, "webhook", "remove", "environment")[0] == 1
    assert run(env, "webhook", "dead")[0] == 0


def test_reports(env: dict[str, str]) -> None:
    code, out, _ = run(env, "report", "kpi", "--from", "2026-11-01", "--to", "2026-11-30")
    assert code == 0
    data = json.loads(out)
    assert data["from"] == "2026-11-01" and data["overall"]["closure_rate"]["denominator"] == 0
    code, out, _ = run(env, "report", "kpi", "--from", "2026-11-01", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 10 and rows[0]["department"] == "overall"
    assert run(env, "report", "kpi", "--from", "2026-12-01", "--to", "2026-11-01")[0] != 0
    code, out, _ = run(env, "report", "hot", "--days", "7")
    assert code == 0 and json.loads(out)["categories"] == []


def test_briefing(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "weekly.html"
    code, _, _ = run(env, "report", "briefing", "weekly", "--out", str(out))
    assert code == 0 and "12345热线周分析" in out.read_text(encoding="utf-8")
    assert run(env, "report", "briefing", "yearly")[0] != 0
