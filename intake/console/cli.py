"""`intake staff …`: accounts from the command line (add, passwd, list, disable, rotate-token).

`register(staff_app)` adds the commands to the CLI's `staff` group. A bad argument (an unknown
role or name, a weak password) prints one line on stderr and exits with 2.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from intake.config import Settings, load_settings
from intake.console import accounts
from intake.directory.departments import load_catalog, open_catalog
from intake.domain.errors import IntakeError
from intake.storage.database import open_database
from intake.storage.migrate import upgrade

T = TypeVar("T")
SettingsLoader = Callable[[Path | None], Settings]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (INTAKE_DATA_DIR)")]


def _default_loader(data_dir: Path | None) -> Settings:
    return load_settings(**({"data_dir": data_dir} if data_dir else {}))


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _read_password(prompt: bool) -> str:
    """From stdin (one line), or asked twice without echo on a terminal."""
    if prompt and sys.stdin.isatty():
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        _fail("no password on stdin")
    return line


def register(staff_app: typer.Typer, settings_loader: SettingsLoader | None = None) -> None:
    """Add the account commands to `intake staff`; `settings_loader` reads (and checks) the
    settings for a `--data-dir` (the CLI's own, with its preflight checks, by default plain)."""
    load = settings_loader or _default_loader

    def run(data_dir: Path | None, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        settings = load(data_dir)

        async def go() -> T:
            async with _session(settings) as session:
                return await work(session)

        try:
            return asyncio.run(go())
        except IntakeError as exc:
            _fail(str(exc))
            raise  # unreachable: _fail exits

    @staff_app.command("add")
    def add(
        name: str,
        role: Annotated[str, typer.Option(help="agent | handler | supervisor | admin")],
        department: Annotated[str | None, typer.Option(help="department code")] = None,
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="read a console password from stdin")
        ] = False,
        data_dir: DataDir = None,
    ) -> None:
        """Create a staff account and print its API token (shown once)."""
        try:
            chosen = accounts.parse_role(role)
            accounts.check_name(name)
        except IntakeError as exc:
            _fail(str(exc))
        password = _read_password(False) if password_stdin else None

        async def work(session: AsyncSession) -> str:
            staff, token = await accounts.create_account(
                session,
                name=name,
                role=chosen,
                department=department,
                password=password,
                catalog=await load_catalog(session),
            )
            typer.echo(f"staff #{staff.id} {staff.name} ({staff.role})", err=True)
            return token

        typer.echo(run(data_dir, work))

    @staff_app.command("passwd")
    def passwd(name: str, data_dir: DataDir = None) -> None:
        """Set the console password of NAME (from stdin); open sessions end."""
        password = _read_password(True)

        async def work(session: AsyncSession) -> None:
            await accounts.set_password(session, name=name, password=password)

        run(data_dir, work)
        typer.echo(f"password of {name} changed", err=True)

    @staff_app.command("list")
    def list_(data_dir: DataDir = None) -> None:
        """Show every account: id, name, role, department, active, password set."""

        async def work(session: AsyncSession) -> list[str]:
            return [
                f"{s.id}\t{s.name}\t{s.role}\t{s.department or '-'}\t"
                f"{'active' if s.active else 'disabled'}\t"
                f"{'password' if s.password_hash else 'token only'}"
                for s in await accounts.list_accounts(session)
            ]

        for line in run(data_dir, work):
            typer.echo(line)

    @staff_app.command("disable")
    def disable(name: str, data_dir: DataDir = None) -> None:
        """Disable NAME: the token and every console session stop working."""

        async def work(session: AsyncSession) -> None:
            await accounts.disable(session, name=name)

        run(data_dir, work)
        typer.echo(f"{name} disabled", err=True)

    @staff_app.command("rotate-token")
    def rotate(name: str, data_dir: DataDir = None) -> None:
        """Give NAME a new API token (printed once); the old one stops working."""

        async def work(session: AsyncSession) -> str:
            _, token = await accounts.rotate_token(session, name=name)
            return token

        typer.echo(run(data_dir, work))


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    db = open_database(settings)
    try:
        await upgrade(db.engine)
        await open_catalog(db, departments_file=settings.catalog.departments_file)
        async with db.write() as session, session.begin():
            yield session
    finally:
        await db.dispose()
