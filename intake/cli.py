"""The `intake` command."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from intake.config import PLACEMENTS, Settings, load_settings
from intake.enums import Role
from intake.process import run_async

app = typer.Typer(help="12345 hotline intake service", no_args_is_help=True)
db_app = typer.Typer(help="database schema")
staff_app = typer.Typer(help="staff accounts")
dead_app = typer.Typer(help="messages that could not be processed")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(dead_app, name="deadletter")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (INTAKE_DATA_DIR)")]


def _settings(data_dir: Path | None) -> Settings:
    logging.basicConfig(
        level=os.environ.get("INTAKE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return load_settings(**({"data_dir": data_dir} if data_dir else {}))


@app.command()
def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: DataDir = None,
    pipeline_processes: Annotated[
        int | None,
        typer.Option(
            help="pipeline processes (INTAKE_PIPELINE__PROCESSES), 1 by default; more than 1 "
            "run as child processes"
        ),
    ] = None,
    pipeline_placement: Annotated[
        str | None,
        typer.Option(
            help="where a single pipeline runs (INTAKE_PIPELINE__PLACEMENT): auto (a child "
            "process on 2+ cores, else inside), inside, child"
        ),
    ] = None,
) -> None:
    """Everything in one process, with embedded Redis and SQLite unless configured."""
    from intake.runner import run_all

    settings = _settings(data_dir)
    if pipeline_processes is not None:
        if pipeline_processes < 1:
            raise typer.BadParameter("--pipeline-processes must be at least 1")
        settings.pipeline.processes = pipeline_processes
    if pipeline_placement is not None:
        if pipeline_placement not in PLACEMENTS:
            raise typer.BadParameter(f"--pipeline-placement must be one of {', '.join(PLACEMENTS)}")
        settings.pipeline.placement = pipeline_placement  # type: ignore[assignment]
    run_async(run_all(settings, host=host, port=port))


@app.command()
def serve(
    host: str = "127.0.0.1", port: int = 8000, workers: int = 1, data_dir: DataDir = None
) -> None:
    """HTTP only: API, web form and channel webhooks."""
    import uvicorn

    settings = _settings(data_dir)
    if data_dir:
        os.environ["INTAKE_DATA_DIR"] = str(data_dir)
    if workers > 1 and not settings.redis_url:
        raise typer.BadParameter("several HTTP workers need INTAKE_REDIS_URL")
    uvicorn.run(
        "intake.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker(
    only: Annotated[
        str | None,
        typer.Option(
            help="one kind or several, comma-separated: pipeline, notifier, email, telegram, wechat"
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Background workers (all kinds, or those named)."""
    from intake.runner import WORKER_KINDS, run_workers

    kinds = None if only is None else [k.strip() for k in only.split(",") if k.strip()]
    if kinds is not None and (not kinds or set(kinds) - set(WORKER_KINDS)):
        raise typer.BadParameter(f"--only takes one or more of {', '.join(WORKER_KINDS)}")
    run_async(run_workers(_settings(data_dir), only=kinds))


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply database migrations."""
    from intake.db import open_database
    from intake.migrate import upgrade

    async def _go() -> None:
        db = open_database(_settings(data_dir))
        try:
            await upgrade(db.engine)
        finally:
            await db.dispose()

    asyncio.run(_go())
    typer.echo("database is up to date")


@staff_app.command("add")
def staff_add(
    name: str,
    role: Annotated[Role, typer.Option(help="agent | handler | supervisor | admin")],
    department: Annotated[str | None, typer.Option(help="department code")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a staff account and print its API token (shown once)."""
    from intake.catalog import Catalog
    from intake.db import open_database
    from intake.migrate import upgrade
    from intake.staff import add_staff

    async def _go() -> str:
        settings = _settings(data_dir)
        db = open_database(settings)
        try:
            await upgrade(db.engine)
            async with db.write() as session, session.begin():
                staff, token = await add_staff(
                    session,
                    name=name,
                    role=role,
                    department=department,
                    catalog=Catalog.load(settings.catalog.departments_file),
                )
                typer.echo(f"staff #{staff.id} {name} ({role.value})", err=True)
            return token
        finally:
            await db.dispose()

    typer.echo(asyncio.run(_go()))


@dead_app.command("list")
def deadletter_list(data_dir: DataDir = None) -> None:
    """Show messages that could not be processed, with the reason."""
    from intake.deadletter import list_dead
    from intake.redis_conn import open_redis

    async def _go() -> None:
        redis = await open_redis(_settings(data_dir))
        try:
            for dead in await list_dead(redis.client, redis.keys, count=1000):
                typer.echo(f"{dead.id}\tattempts={dead.attempts}\t{dead.failed_at}\t{dead.reason}")
        finally:
            await redis.close()

    asyncio.run(_go())


@dead_app.command("replay")
def deadletter_replay(dead_id: str, data_dir: DataDir = None) -> None:
    """Put a dead-lettered message back on the intake stream."""
    from intake.deadletter import replay
    from intake.redis_conn import open_redis

    async def _go() -> str:
        redis = await open_redis(_settings(data_dir))
        try:
            return await replay(redis.client, redis.keys, dead_id)
        except KeyError as exc:
            raise typer.BadParameter(f"no dead letter {dead_id}") from exc
        finally:
            await redis.close()

    typer.echo(f"replayed as {asyncio.run(_go())}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
