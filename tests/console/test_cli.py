"""`intake staff …` account commands, on a fresh typer group with `register`."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from intake.console.cli import register


@pytest.fixture
def staff_cli() -> typer.Typer:
    group = typer.Typer()
    register(group)
    return group


def _run(
    app: typer.Typer, tmp_path: Path, *args: str, stdin: str | None = None
) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "data")], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_account_lifecycle(
    staff_cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTAKE_DATABASE_URL", raising=False)
    code, out, err = _run(
        staff_cli,
        tmp_path,
        "add",
        "xiaoli",
        "--role",
        "agent",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("itk_") and "xiaoli (agent)" in err
    code, out, _ = _run(staff_cli, tmp_path, "list")
    assert code == 0 and "xiaoli\tagent\t-\tactive\tpassword" in out
    code, out, _ = _run(staff_cli, tmp_path, "rotate-token", "xiaoli")
    assert code == 0 and out.strip().startswith("itk_") and out.strip() != token
    code, _, err = _run(staff_cli, tmp_path, "passwd", "xiaoli", stdin="another good password\n")
    assert code == 0, err
    code, _, err = _run(staff_cli, tmp_path, "disable", "xiaoli")
    assert code == 0
    code, out, _ = _run(staff_cli, tmp_path, "list")
    assert "disabled" in out


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("add", "a", "--role", "boss"), None, "unknown role 'boss'"),
        (("add", "h", "--role", "handler"), None, "a handler belongs to a department"),
        (("add", "h", "--role", "handler", "--department", "nowhere"), None, "unknown department"),
        (("add", "p", "--role", "agent", "--password-stdin"), "short\n", "at least 10"),
        (("passwd", "ghost"), "a long enough password\n", "no staff member 'ghost'"),
        (("disable", "ghost"), None, "no staff member 'ghost'"),
        (("rotate-token", "ghost"), None, "no staff member 'ghost'"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(
    staff_cli: typer.Typer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    stdin: str | None,
    says: str,
) -> None:
    monkeypatch.delenv("INTAKE_DATABASE_URL", raising=False)
    code, _, err = _run(staff_cli, tmp_path, *args, stdin=stdin)
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_a_taken_name_is_refused(
    staff_cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTAKE_DATABASE_URL", raising=False)
    assert _run(staff_cli, tmp_path, "add", "dup", "--role", "agent")[0] == 0
    code, _, err = _run(staff_cli, tmp_path, "add", "dup", "--role", "supervisor")
    assert code == 2 and "taken" in err
