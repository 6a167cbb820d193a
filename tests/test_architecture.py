"""The direction of dependencies (pyproject's import-linter contracts), and the tables the
migrations see through the core's metadata once the root has registered the notifier's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from importlinter.cli import lint_imports
from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers (service → channels | notifier → intake), the core free of edges, channels and
    notifier independent, no cycles; function-local and TYPE_CHECKING imports count."""
    monkeypatch.chdir(ROOT)
    assert lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


FORBIDDEN = {
    "intake": ("channels", "notifier", "service"),
    "channels": ("notifier", "service"),
    "notifier": ("channels", "service"),
}


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_file_imports_across(package: str) -> None:
    """Every .py file, also those import-linter does not see (the migrations' env.py)."""
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imported(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert wrong == []


def test_contracts_cover_every_package() -> None:
    """A new top-level package is either named in the contracts or is not application code."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "bench"} == {"intake", "channels", "notifier", "service"}
    assert 'root_packages = ["intake", "channels", "notifier", "service"]' in text


def test_migrations_create_the_notifier_tables(tmp_path: Path) -> None:
    """The root registers the notifier's tables on the core's metadata; head creates them."""
    from intake.domain.models import Base
    from intake.storage.migrate import alembic_config
    from notifier.models import Delivery, Prompt
    from service import wiring  # noqa: F401  (registers them)

    for model in (Prompt, Delivery):
        assert Base.metadata.tables[model.__tablename__] is model.__table__
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    tables = set(inspect(engine).get_table_names())
    assert {Prompt.__tablename__, Delivery.__tablename__} <= tables
    engine.dispose()


@pytest.mark.parametrize("package", ["channels", "notifier"])
def test_edges_never_reach_for_the_whole_runtime(package: str) -> None:
    """Connectors and the notifier are given their parts; none takes the runtime from a
    request (`RuntimeDep`, `app.state.runtime`) behind the import contracts' back."""
    names = ("RuntimeDep", "get_runtime", "state.runtime", "intake.runtime")
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in names
        if name in path.read_text(encoding="utf-8")
    ]
    assert wrong == []
