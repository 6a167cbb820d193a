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
    from intake.clock import SHANGHAI, utcnow
    from intake.errors import InvalidInput
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
    from intake.clock import SHANGHAI, utcnow
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


__all__ = ["report_app"]


@report_app.command("briefing")
def report_briefing(
    kind: Annotated[str, typer.Argument(help="daily | weekly | monthly")],
    out: Annotated[Path | None, typer.Option("--out", help="write the HTML here")] = None,
    data_dir: DataDir = None,
) -> None:
    """The 日监测 / 周分析 / 月简报 as one HTML page (to stdout, or --out FILE)."""
    from intake.clock import SHANGHAI, utcnow
    from intake.reports.briefing import Briefing, render_briefing

    try:
        chosen = Briefing(kind)
    except ValueError:
        raise typer.BadParameter("daily, weekly or monthly") from None

    async def _go() -> str:
        today = utcnow().astimezone(SHANGHAI).date()
        async with migrated(settings_of(data_dir)) as db, db.read() as session:
            return await render_briefing(session, kind=chosen, today=today)

    page = asyncio.run(_go())
    if out is None:
        typer.echo(page)
    else:
        out.write_text(page, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
