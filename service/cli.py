"""The `intake` command."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from intake.config import PLACEMENTS, Settings
from intake.console.cli import register as register_account_commands
from intake.integration.cli import apikey_app, webhook_app
from intake.metrics_dir import use_metrics_folder
from intake.preflight import SERVICES, SettingsRefused, preflight
from intake.reports.cli import report_app
from service.process import run_async
from service.settings import ServiceSettings, load_settings
from service.staff_contacts_cli import register as register_contact_commands

if TYPE_CHECKING:
    from intake.storage.database import Database

app = typer.Typer(help="12345 hotline intake service", no_args_is_help=True)
db_app = typer.Typer(help="database schema")
staff_app = typer.Typer(help="staff accounts")
dead_app = typer.Typer(help="messages that could not be processed")
triage_app = typer.Typer(help="the learned triage model: train, evaluate, switch versions")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(dead_app, name="deadletter")
app.add_typer(triage_app, name="triage")
app.add_typer(apikey_app, name="apikey")
app.add_typer(webhook_app, name="webhook")
app.add_typer(report_app, name="report")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data folder (INTAKE_DATA_DIR)")]


def _settings(data_dir: Path | None, *, needs: Collection[str] = SERVICES) -> ServiceSettings:
    """The settings, each one checked first, the channels' and the notifier's sections too
    (the servers of `needs` are connected to): a bad one is named on stderr, one line each,
    and the command exits with 2."""
    logging.basicConfig(
        level=os.environ.get("INTAKE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from intake.error_summary import install_redacting_formatter

    install_redacting_formatter()  # tracebacks in the log name errors, not citizens' data
    overrides = {"data_dir": data_dir} if data_dir else {}
    try:
        return preflight(lambda: load_settings(**overrides), sections={}, needs=needs)
    except SettingsRefused as refused:
        for problem in refused.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None


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
    settings = _settings(data_dir)
    use_metrics_folder(settings.data_dir, sweep=True)  # before anything imports the metrics
    from service.runner import run_all

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
    use_metrics_folder(settings.data_dir, sweep=True)  # the workers inherit it
    if data_dir:
        os.environ["INTAKE_DATA_DIR"] = str(data_dir)
    if workers > 1 and not settings.redis_url:
        raise typer.BadParameter("several HTTP workers need INTAKE_REDIS_URL")
    uvicorn.run(
        "service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # intake.api.client_ip decides whose X-Forwarded-For counts
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
    # a child of `intake run` (whose parent checked the servers) restarted during an outage
    # waits for them (`run_workers`) instead of exiting
    child = "INTAKE_PARENT_PID" in os.environ
    settings = _settings(data_dir, needs=() if child else SERVICES)
    use_metrics_folder(settings.data_dir, sweep=False)  # before anything imports the metrics
    from service.runner import WORKER_KINDS, run_workers

    kinds = None if only is None else [k.strip() for k in only.split(",") if k.strip()]
    if kinds is not None and (not kinds or set(kinds) - set(WORKER_KINDS)):
        raise typer.BadParameter(f"--only takes one or more of {', '.join(WORKER_KINDS)}")
    run_async(run_workers(settings, only=kinds))


@asynccontextmanager
async def _migrated(settings: Settings) -> AsyncIterator[Database]:
    """The database of a one-shot command, its schema brought up to date first."""
    from intake.storage.database import open_database
    from intake.storage.migrate import upgrade

    db = open_database(settings)
    try:
        await upgrade(db.engine)
        yield db
    finally:
        await db.dispose()


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply database migrations."""

    async def _go() -> None:
        async with _migrated(_settings(data_dir, needs=("database",))):
            pass

    asyncio.run(_go())
    typer.echo("database is up to date")


@dead_app.command("list")
def deadletter_list(data_dir: DataDir = None) -> None:
    """Show messages that could not be processed, with the reason."""
    from intake.ingest.deadletter import list_dead
    from intake.redis.connection import open_redis

    async def _go() -> None:
        redis = await open_redis(_settings(data_dir, needs=("redis",)))
        try:
            for dead in await list_dead(redis.client, redis.keys, count=1000):
                typer.echo(f"{dead.id}\tattempts={dead.attempts}\t{dead.failed_at}\t{dead.reason}")
        finally:
            await redis.close()

    asyncio.run(_go())


@dead_app.command("replay")
def deadletter_replay(dead_id: str, data_dir: DataDir = None) -> None:
    """Put a dead-lettered message back on the intake stream."""
    from intake.ingest.deadletter import replay
    from intake.redis.connection import open_redis

    async def _go() -> str:
        redis = await open_redis(_settings(data_dir, needs=("redis",)))
        try:
            return await replay(redis.client, redis.keys, dead_id)
        except KeyError as exc:
            raise typer.BadParameter(f"no dead letter {dead_id}") from exc
        finally:
            await redis.close()

    typer.echo(f"replayed as {asyncio.run(_go())}")


@app.command()
def purge(
    operator: Annotated[str, typer.Option(help="who runs it (audit log)")] = "intake purge",
    data_dir: DataDir = None,
) -> None:
    """Remove closed tickets' personal data past its time (INTAKE_RETENTION__*); keep facts."""
    from intake.domain.clock import utcnow
    from intake.ingest.attachments import AttachmentStore
    from intake.privacy.retention import purge as run_purge

    async def _go() -> str:
        settings = _settings(data_dir, needs=("database",))
        async with _migrated(settings) as db:
            store = AttachmentStore(settings.data_dir / "attachments")
            report = await run_purge(
                db, store, settings=settings.retention, now=utcnow(), operator=operator
            )
            return report.describe()

    typer.echo(f"purged: {asyncio.run(_go())}")


@app.command()
def erase(
    phone: Annotated[str, typer.Option(help="the citizen's phone number")],
    operator: Annotated[str, typer.Option(help="who asks for it (kept in the audit log)")],
    data_dir: DataDir = None,
) -> None:
    """Erase a citizen's personal data on request (audited); tickets keep their facts."""
    from intake.domain.clock import utcnow
    from intake.domain.errors import InvalidInput
    from intake.ingest.attachments import AttachmentStore
    from intake.privacy.erasure import erase_phone

    if not operator.strip():
        raise typer.BadParameter("--operator must name who asks for the erasure")

    async def _go() -> str:
        settings = _settings(data_dir, needs=("database",))
        now = utcnow()
        try:
            async with _migrated(settings) as db:
                store = AttachmentStore(settings.data_dir / "attachments")
                report = await erase_phone(
                    db, store, phone=phone, operator=operator.strip(), now=now
                )
        except InvalidInput as exc:
            raise typer.BadParameter(f"--phone: {exc}") from None
        counts = ", ".join(f"{k}={v}" for k, v in report.counts().items())
        return (
            f"erased {report.subject}: {counts}\n"
            f"audit #{report.audit_id} at {now.isoformat(timespec='seconds')} by {operator.strip()}"
        )

    typer.echo(asyncio.run(_go()))


def _refuse(message: str) -> NoReturn:
    """A bad argument: one line on stderr, exit code 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


TrainingFile = Annotated[
    Path | None,
    typer.Argument(help="CSV or JSON Lines with text, optional title, category, request_type"),
]


@triage_app.command("train")
def triage_train(
    file: TrainingFile = None,
    from_corrections: Annotated[
        bool, typer.Option("--from-corrections", help="add staff corrections (categorize)")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Train a model, measure it on a held-back part, store it as a new version, activate it."""
    from intake.domain.errors import InvalidInput
    from intake.triage.learned.dataset import read_rows
    from intake.triage.learned.evaluation import describe
    from intake.triage.workbench import Workbench

    if file is None and not from_corrections:
        _refuse("give a FILE to train on, --from-corrections, or both")
    settings = _settings(data_dir, needs=("database",) if from_corrections else ())
    bench = Workbench.open(settings)
    try:
        rows = read_rows(file) if file is not None else []
        corrections = asyncio.run(_corrections(settings, bench.codes)) if from_corrections else []
        model = bench.train(rows, corrections)
    except InvalidInput as exc:
        _refuse(str(exc))
    typer.echo(
        f"model {model.version} trained on {model.info.rows} rows "
        f"({len(corrections)} corrections), now active"
    )
    typer.echo("\n".join(describe(model.info.figures)))


async def _corrections(settings: Settings, codes: frozenset[str]) -> list[Any]:
    from intake.triage.learned.corrections import corrected_rows

    async with _migrated(settings) as db:
        return list(await corrected_rows(db, codes))


@triage_app.command("eval")
def triage_eval(
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines, as for train")],
    data_dir: DataDir = None,
) -> None:
    """Accuracy, per-category precision and recall, main confusions of the active model."""
    from intake.domain.errors import InvalidInput
    from intake.triage.learned.dataset import read_rows
    from intake.triage.learned.evaluation import describe
    from intake.triage.workbench import Workbench

    settings = _settings(data_dir, needs=())
    try:
        version, figures = Workbench.open(settings).evaluate(read_rows(file))
    except InvalidInput as exc:
        _refuse(str(exc))
    typer.echo(f"model {version}")
    typer.echo("\n".join(describe(figures)))


@triage_app.command("models")
def triage_models(data_dir: DataDir = None) -> None:
    """The stored models with their figures; * marks the active one."""
    from intake.triage.learned.store import ModelStore, models_folder
    from intake.triage.workbench import listing

    store = ModelStore(models_folder(_settings(data_dir, needs=()).data_dir))
    for info, active, shipped in listing(store):
        figures = info.figures
        typer.echo(
            f"{'*' if active else ' '} {'default' if shipped else info.version}\t"
            f"{info.version if shipped else info.created_at}\trows={info.rows}\t"
            f"category={figures.get('category_accuracy', 0):.1%}\t"
            f"rules={figures.get('rules_category_accuracy', 0):.1%}\t"
            f"threshold={info.category_threshold}\tsha256={info.training_sha256[:12]}"
        )


@triage_app.command("activate")
def triage_activate(
    version: Annotated[str, typer.Argument(help="a version from `intake triage models`")],
    data_dir: DataDir = None,
) -> None:
    """Make a stored model (or `default`, the shipped one) active; workers switch within
    seconds, without a restart."""
    from intake.domain.errors import InvalidInput
    from intake.triage.learned.store import ModelStore, models_folder

    settings = _settings(data_dir, needs=())
    try:
        ModelStore(models_folder(settings.data_dir)).activate(version)
    except InvalidInput as exc:
        _refuse(str(exc))
    typer.echo(f"active: {version}")


@triage_app.command("rollback")
def triage_rollback(data_dir: DataDir = None) -> None:
    """Make the previously active model active again."""
    from intake.domain.errors import InvalidInput
    from intake.triage.learned.store import ModelStore, models_folder

    settings = _settings(data_dir, needs=())
    try:
        version = ModelStore(models_folder(settings.data_dir)).rollback()
    except InvalidInput as exc:
        _refuse(str(exc))
    typer.echo(f"active: {version}")


register_account_commands(
    staff_app, settings_loader=lambda data_dir: _settings(data_dir, needs=("database",))
)
register_contact_commands(staff_app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
