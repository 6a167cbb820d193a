"""The daily, weekly and monthly briefings (日监测、周分析、月简报) as one HTML page each:
the KPIs overall and per department, tickets per day as a bar chart (inline SVG, so the page
stands alone in an e-mail or a browser and prints as it is shown), and the hot topics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.models import Ticket
from intake.reports.hot import compute_hot
from intake.reports.kpis import KPIS, compute_kpis, local_day_sql
from intake.reports.period import Period

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
CHART_WIDTH, CHART_HEIGHT = 640, 160


class Briefing(StrEnum):
    DAILY = "daily"  # 日监测: yesterday
    WEEKLY = "weekly"  # 周分析: the seven days to yesterday
    MONTHLY = "monthly"  # 月简报: the last calendar month

    @property
    def title(self) -> str:
        return {"daily": "日监测", "weekly": "周分析", "monthly": "月简报"}[self.value]

    def period(self, today: date) -> Period:
        yesterday = today - timedelta(days=1)
        if self is Briefing.DAILY:
            return Period(yesterday, yesterday)
        if self is Briefing.WEEKLY:
            return Period(yesterday - timedelta(days=6), yesterday)
        last = today.replace(day=1) - timedelta(days=1)
        return Period(last.replace(day=1), last)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    count: int


async def tickets_per_day(session: AsyncSession, period: Period) -> dict[date, int]:
    day = local_day_sql(session.bind.dialect.name)(Ticket.created_at)
    rows = await session.execute(
        select(day, func.count())
        .where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
        .group_by(day)
    )
    counts = {date.fromisoformat(str(d)[:10]): int(n) for d, n in rows.all()}
    return {
        period.first + timedelta(days=i): counts.get(period.first + timedelta(days=i), 0)
        for i in range(period.days)
    }


def bars(per_day: dict[date, int]) -> list[Bar]:
    highest = max(per_day.values(), default=0) or 1
    width = CHART_WIDTH / max(len(per_day), 1)
    out = []
    for i, (day, count) in enumerate(sorted(per_day.items())):
        height = (CHART_HEIGHT - 20) * count / highest
        out.append(
            Bar(
                i * width + 1,
                CHART_HEIGHT - height,
                max(width - 2, 1),
                height,
                day.isoformat(),
                count,
            )
        )
    return out


async def render_briefing(session: AsyncSession, *, kind: Briefing, today: date) -> str:
    period = kind.period(today)
    kpis = (await compute_kpis(session, period=period)).as_dict()
    per_day = await tickets_per_day(session, period)
    hot = await compute_hot(session, period=Period.last_days(30, today=today), today=today)
    context: dict[str, Any] = {
        "kind": kind,
        "period": period,
        "kpis": kpis,
        "names": KPIS,
        "total": sum(per_day.values()),
        "bars": bars(per_day),
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
        "hot": hot,
    }
    return _templates.get_template("briefing.html").render(context)
