"""`intake staff contact` and `intake staff robot`: where staff and departments get alerts.

Registered on the `staff` sub-command by `register(staff_app)`. Output shows contacts masked;
bad input exits with 2 and says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from intake.config import Settings
from intake.domain.errors import ConfigurationError, IntakeError
from service.settings import ServiceSettings, load_settings

T = TypeVar("T")
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (INTAKE_DATA_DIR)")]


def _settings(data_dir: Path | None) -> ServiceSettings:
    try:
        return load_settings(**({"data_dir": data_dir} if data_dir else {}))
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """`work(session)` in one transaction on the migrated database; IntakeError → exit 2."""
    from intake.storage.database import open_database
    from intake.storage.migrate import upgrade

    async def _go() -> T:
        db = open_database(settings)
        try:
            await upgrade(db.engine)
            async with db.write() as session, session.begin():
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(_go())
    except IntakeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def robot_hosts(settings: ServiceSettings) -> list[str]:
    """The operator's extra robot hosts (`INTAKE_WECOM__ROBOT_HOSTS`), checked at load."""
    return list(settings.wecom.robot_hosts) if settings.wecom else []


def contact(
    name: Annotated[str, typer.Argument(help="the staff member's name, or #ID")],
    phone: Annotated[str | None, typer.Option(help="mobile for SMS alerts; '' removes")] = None,
    email: Annotated[str | None, typer.Option(help="address for e-mail alerts; '' removes")] = None,
    wecom_userid: Annotated[
        str | None, typer.Option("--wecom-userid", help="WeCom (企业微信) user id; '' removes")
    ] = None,
    prefer: Annotated[
        str | None, typer.Option(help="order to try, e.g. wecom,sms,email; '' clears")
    ] = None,
    work_hours: Annotated[
        str | None, typer.Option("--work-hours", help="e.g. 08:30-17:30; other alerts wait")
    ] = None,
    lead: Annotated[
        bool | None, typer.Option("--lead/--no-lead", help="the department's lead (escalation)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Set where a staff member gets alerts, and show it (masked)."""
    from intake.directory.contacts import ContactChange, masked_contact, set_contact

    change = ContactChange(
        phone=phone,
        email=email,
        wecom_userid=wecom_userid,
        prefer=prefer,
        work_hours=work_hours,
        lead=lead,
    )

    async def work(session: Any) -> str:
        staff = await set_contact(session, name=name, change=change)
        shown = masked_contact(staff.contact or {})
        parts = [f"{k}={v}" for k, v in shown.items()] + (["lead"] if staff.lead else [])
        return f"staff #{staff.id} {staff.name}: " + (" ".join(parts) or "no contact")

    typer.echo(_run(_settings(data_dir), work))


def robot(
    department: Annotated[str, typer.Argument(help="department code")],
    url: Annotated[str, typer.Argument(help="the WeCom group robot webhook URL; '' removes")],
    data_dir: DataDir = None,
) -> None:
    """Register a department's WeCom group robot for team alerts."""
    from intake.catalog import Catalog
    from intake.directory.department_alerts import masked_robot_url, set_robot_url

    settings = _settings(data_dir)
    try:
        hosts = robot_hosts(settings)
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    async def work(session: Any) -> str:
        row = await set_robot_url(
            session,
            department=department,
            url=url or None,
            catalog=Catalog.load(settings.catalog.departments_file),
            allowed_hosts=hosts,
        )
        return f"{department}: robot {masked_robot_url(row.wecom_robot_url) or 'removed'}"

    typer.echo(_run(settings, work))


def register(staff_app: typer.Typer) -> None:
    staff_app.command("contact")(contact)
    staff_app.command("robot")(robot)
