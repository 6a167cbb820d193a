"""`intake apikey …` and `intake webhook …`: typer sub-apps the root CLI mounts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import typer

from intake.config import Settings, load_settings
from intake.storage.database import Database

apikey_app = typer.Typer(help="Open311 partners' API keys", no_args_is_help=True)
webhook_app = typer.Typer(help="department webhooks", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (INTAKE_DATA_DIR)")]


def settings_of(data_dir: Path | None) -> Settings:
    return load_settings(**({"data_dir": data_dir} if data_dir else {}))


@asynccontextmanager
async def migrated(settings: Settings) -> AsyncIterator[Database]:
    from intake.storage.database import open_database
    from intake.storage.migrate import upgrade

    db = open_database(settings)
    try:
        await upgrade(db.engine)
        yield db
    finally:
        await db.dispose()


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@apikey_app.command("add")
def apikey_add(name: str, data_dir: DataDir = None) -> None:
    """Create a key for the partner NAME and print it (shown once; only its hash is kept)."""
    from intake.domain.clock import utcnow
    from intake.domain.errors import IntakeError
    from intake.integration.apikeys import add_key

    async def _go() -> str:
        async with migrated(settings_of(data_dir)) as db, db.write() as session:
            async with session.begin():
                row, key = await add_key(session, name=name, at=utcnow())
            typer.echo(f"api key #{row.id} {row.name}", err=True)
            return key

    try:
        typer.echo(asyncio.run(_go()))
    except IntakeError as exc:
        raise _fail(str(exc)) from None


@apikey_app.command("list")
def apikey_list(data_dir: DataDir = None) -> None:
    """Every key: id, name, active or revoked, created."""
    from intake.integration.apikeys import list_keys

    async def _go() -> None:
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            for row in await list_keys(session):
                state = "active" if row.active else f"revoked {row.revoked_at:%Y-%m-%d %H:%M}"
                typer.echo(f"{row.id}\t{row.name}\t{state}\t{row.created_at:%Y-%m-%d %H:%M}")

    asyncio.run(_go())


@apikey_app.command("revoke")
def apikey_revoke(name: str, data_dir: DataDir = None) -> None:
    """Revoke the key of NAME at once (its requests stay tickets)."""
    from intake.domain.clock import utcnow
    from intake.domain.errors import IntakeError
    from intake.integration.apikeys import revoke_key

    async def _go() -> None:
        settings = settings_of(data_dir)
        async with migrated(settings) as db, db.write() as session, session.begin():
            await revoke_key(session, name=name, at=utcnow())

    try:
        asyncio.run(_go())
    except IntakeError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"revoked {name}")


@webhook_app.command("add")
def webhook_add(
    department: str,
    url: str,
    secret: Annotated[
        str | None, typer.Option(help="shared secret (default: a new random one, printed)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Register (or replace) the webhook of DEPARTMENT; prints the signing secret."""
    from intake.catalog import Catalog
    from intake.domain.clock import utcnow
    from intake.domain.errors import IntakeError
    from intake.integration.webhooks import register

    async def _go() -> str:
        settings = settings_of(data_dir)
        async with migrated(settings) as db, db.write() as session, session.begin():
            row, key = await register(
                session,
                department=department,
                url=url,
                secret=secret,
                catalog=Catalog.load(settings.catalog.departments_file),
                allow_private=settings.integration.webhook_allow_private,
                at=utcnow(),
            )
            typer.echo(f"webhook of {row.department}: {row.url}", err=True)
            return key

    try:
        typer.echo(asyncio.run(_go()))
    except IntakeError as exc:
        raise _fail(str(exc)) from None


@webhook_app.command("list")
def webhook_list(data_dir: DataDir = None) -> None:
    """Every department's webhook (the secrets are not shown)."""
    from intake.integration.webhooks import active_hooks

    async def _go() -> None:
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            for row in (await active_hooks(session)).values():
                typer.echo(f"{row.department}\t{row.url}\t{row.created_at:%Y-%m-%d %H:%M}")

    asyncio.run(_go())


@webhook_app.command("remove")
def webhook_remove(department: str, data_dir: DataDir = None) -> None:
    """Stop sending DEPARTMENT's events (what is queued for it is dropped)."""
    from intake.domain.errors import IntakeError
    from intake.integration.webhooks import remove

    async def _go() -> None:
        settings = settings_of(data_dir)
        async with migrated(settings) as db, db.write() as session, session.begin():
            await remove(session, department=department)

    try:
        asyncio.run(_go())
    except IntakeError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"removed the webhook of {department}")


@webhook_app.command("dead")
def webhook_dead(data_dir: DataDir = None) -> None:
    """Events a department's endpoint kept refusing for a day (not yet replayed)."""
    from sqlalchemy import select

    from intake.integration.models import WebhookDeadLetter

    async def _go() -> None:
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            rows = await session.scalars(
                select(WebhookDeadLetter)
                .where(WebhookDeadLetter.replayed_at.is_(None))
                .order_by(WebhookDeadLetter.id)
            )
            for row in rows:
                typer.echo(
                    f"{row.id}\t{row.department}\t{row.ticket}\tevent={row.event_id}\t"
                    f"attempts={row.attempts}\t{row.created_at:%Y-%m-%d %H:%M}\t{row.error}"
                )

    asyncio.run(_go())


@webhook_app.command("replay")
def webhook_replay(dead_id: int, data_dir: DataDir = None) -> None:
    """Send a dead-lettered event again (after the ticket's queued events)."""
    import httpx

    from intake.domain.errors import IntakeError
    from intake.integration.webhook_worker import WebhookWorker
    from intake.redis.connection import open_redis

    async def _go() -> str:
        settings = settings_of(data_dir)
        redis = await open_redis(settings)
        try:
            async with migrated(settings) as db, httpx.AsyncClient() as http:
                worker = WebhookWorker(
                    db=db,
                    redis=redis.client,
                    keys=redis.keys,
                    settings=settings.integration,
                    http=http,
                )
                return await worker.replay(dead_id)
        finally:
            await redis.close()

    try:
        typer.echo(f"replayed event {asyncio.run(_go())}")
    except IntakeError as exc:
        raise _fail(str(exc)) from None
