"""`intake report kpi|hot`: the reports on the command line, as JSON or CSV."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from intake.integration.cli import DataDir, migrated, settings_of

report_app = typer.Typer(help="KPIs and hot topics", no_args_is_help=True)

From = Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")]
To = Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD (inclusive)")]
Format = Annotated[str, typer.Option("--format", help="json | csv")]


def _print(data: Any, csv_text: str, fmt: str) -> None:
    if fmt == "csv":
        typer.echo(csv_text, nl=False)
    elif fmt == "json":
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        raise typer.BadParameter("--format takes json or csv")


@report_app.command("kpi")
def report_kpi(
    from_: From = None,
    to: To = None,
    department: Annotated[str | None, typer.Option(help="department code")] = None,
    channel: Annotated[str | None, typer.Option(help="channel name")] = None,
    fmt: Format = "json",
    data_dir: DataDir = None,
) -> None:
    """The 12345 KPIs of a period (default: the last 30 days), overall and per department."""
    from intake.domain.clock import SHANGHAI, utcnow
    from intake.domain.errors import InvalidInput
    from intake.reports.export import KPI_COLUMNS, to_csv
    from intake.reports.kpis import compute_kpis
    from intake.reports.period import Period

    async def _go() -> Any:
        period = Period.parse(from_, to, today=utcnow().astimezone(SHANGHAI).date())
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            return await compute_kpis(
                session, period=period, department=department, channel=channel
            )

    try:
        report = asyncio.run(_go())
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc)) from None
    _print(report.as_dict(), to_csv(report.rows(), KPI_COLUMNS), fmt)


@report_app.command("hot")
def report_hot(
    days: Annotated[int, typer.Option(min=1, max=366, help="the last N days")] = 30,
    top: Annotated[int, typer.Option(min=1, max=100)] = 10,
    fmt: Format = "json",
    data_dir: DataDir = None,
) -> None:
    """Hot topics of the last N days: top categories, streets and words, spikes flagged."""
    from intake.domain.clock import SHANGHAI, utcnow
    from intake.reports.export import HOT_COLUMNS, hot_rows, to_csv
    from intake.reports.hot import Rules, compute_hot
    from intake.reports.period import Period

    async def _go() -> Any:
        today = utcnow().astimezone(SHANGHAI).date()
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            return await compute_hot(
                session,
                period=Period.last_days(days, today=today),
                today=today,
                rules=Rules(top=top),
            )

    hot = asyncio.run(_go())
    _print(hot, to_csv(hot_rows(hot), HOT_COLUMNS), fmt)


@report_app.command("rebuild")
def report_rebuild(
    from_: From = None,
    to: To = None,
    data_dir: DataDir = None,
) -> None:
    """Count the report summaries afresh (default: every day from the first ticket to today)
    and fold in the changed tickets. The reports worker keeps them up to date after that."""
    from intake.domain.clock import utcnow
    from intake.domain.errors import InvalidInput
    from intake.reports.period import Period, local_day
    from intake.reports.summary_builder import rebuild

    async def _go() -> str:
        now = utcnow()
        period = Period.parse(from_, to, today=local_day(now)) if from_ or to else None
        async with migrated(settings_of(data_dir)) as db:
            done = await rebuild(db, now=now, period=period)
        return f"{done.days_built} days summarised, {done.tickets_folded} changed tickets folded in"

    try:
        typer.echo(asyncio.run(_go()))
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc)) from None


__all__ = ["report_app"]


@report_app.command("briefing")
def report_briefing(
    kind_arg: Annotated[
        str | None, typer.Argument(metavar="[KIND]", help="daily | weekly | monthly")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="daily | weekly | monthly")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html | pdf")] = "html",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write it here")] = None,
    data_dir: DataDir = None,
) -> None:
    """The 日监测 / 周分析 / 月简报 as an HTML page or a PDF (to stdout, or -o FILE)."""
    from intake.domain.clock import SHANGHAI, utcnow
    from intake.reports.briefing import Briefing
    from intake.reports.briefing_pdf import BriefingDocument, briefing_document

    try:
        chosen = Briefing((kind or kind_arg or "").strip().lower())
    except ValueError:
        raise typer.BadParameter("daily, weekly or monthly", param_hint="--kind") from None
    if fmt not in ("html", "pdf"):
        raise typer.BadParameter("html or pdf", param_hint="--format")

    async def _go() -> BriefingDocument:
        today = utcnow().astimezone(SHANGHAI).date()
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            return await briefing_document(session, kind=chosen, today=today, pdf=fmt == "pdf")

    document = asyncio.run(_go())
    if document.pdf is not None:
        if out is None:
            typer.get_binary_stream("stdout").write(document.pdf)
            return
        out.write_bytes(document.pdf)
    elif out is None:
        typer.echo(document.html)
        return
    else:
        out.write_text(document.html, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)
