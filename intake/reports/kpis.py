"""The 12345 KPIs of a period, overall and per department, each with its numerator and
denominator, so that every figure can be checked by hand.

The tickets counted are those received in the period (their intake day, Asia/Shanghai),
optionally of one channel. A ticket belongs to the department it is with, or the one that
returned it, or else to the hotline itself (`hotline`). Definitions:

| KPI | numerator / denominator |
|---|---|
| sms_reply_rate 短信回复率 | SMS tickets replied to or closed on their intake day / SMS |
| on_time_transfer 转办及时率 | dispatched on their intake day / dispatched tickets |
| on_time_reply 按时回复率 | first reply no later than the time limit / tickets replied to |
| closure_rate 办结率 | closed (办结 or 直接答复) / accepted |
| direct_answer_rate 直接答复率 | closed at acceptance (直接答复) / accepted |
| actual_resolution_rate 实际解决率 | callbacks "solved" / callbacks that said whether |
| satisfaction_rate 满意率 | satisfied + basically satisfied / ratings |
| return_rate 退单率 | returned at least once / dispatched |
| extension_rate 延期率 | granted an extension / dispatched |
| repeat_rate 重复率 | with at least one repeat / tickets |

Accepted (受理) means taken in: accepted by an agent, or closed at intake by a direct answer;
不予受理 (declined, out of scope) is neither accepted nor closed. Ratings count each answer.

Every figure is a sum over tickets of what each adds, so it can be kept per day:
`compute_kpis` reads those per-day sums (`intake.reports.tables`), and `direct_kpis` counts
from the tickets themselves, the reference the sums are tested against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import EventKind, TicketStatus
from intake.domain.models import Ticket, TicketEvent
from intake.reports.period import Period
from intake.reports.summary_state import (
    built_days,
    changed_subquery,
    changed_tickets,
    snapshot,
    unbuilt_ranges,
)
from intake.reports.tables import SUM_COLUMNS, TICKETS, report_daily, report_ticket_facts

HOTLINE = "hotline"
KPIS: dict[str, str] = {
    "sms_reply_rate": "短信回复率",
    "on_time_transfer": "转办及时率",
    "on_time_reply": "按时回复率",
    "closure_rate": "办结率",
    "direct_answer_rate": "直接答复率",
    "actual_resolution_rate": "实际解决率",
    "satisfaction_rate": "满意率",
    "return_rate": "退单率",
    "extension_rate": "延期率",
    "repeat_rate": "重复率",
}
SATISFIED = frozenset({"satisfied", "basic"})
RATINGS = frozenset({"satisfied", "basic", "unsatisfied"})


@dataclass
class Tally:
    """Numerators and denominators of one department (or of all)."""

    counts: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0] for name in KPIS})

    def add(self, name: str, hit: bool) -> None:
        pair = self.counts[name]
        pair[0] += int(hit)
        pair[1] += 1

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "label": KPIS[name],
                "numerator": num,
                "denominator": den,
                "rate": round(num / den, 4) if den else None,
            }
            for name, (num, den) in self.counts.items()
        }


@dataclass(frozen=True)
class KpiReport:
    period: Period
    channel: str | None
    department: str | None
    overall: Tally
    departments: dict[str, Tally]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "channel": self.channel,
            "department": self.department,
            "overall": self.overall.as_dict(),
            "departments": {code: t.as_dict() for code, t in sorted(self.departments.items())},
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per (department, KPI), the overall first: what CSV and XLSX carry."""
        out = []
        for scope, tally in [("overall", self.overall), *sorted(self.departments.items())]:
            for name, value in tally.as_dict().items():
                out.append({"department": scope, "kpi": name, **value})
        return out


async def compute_kpis(
    session: AsyncSession,
    *,
    period: Period,
    department: str | None = None,
    channel: str | None = None,
) -> KpiReport:
    """The per-day sums of the summarised days, corrected for the tickets changed since they
    were summed (their old share taken out, their present one counted live), plus the
    tickets of the days not summarised counted live: one statement in one snapshot, whose
    figures equal `direct_kpis`."""
    async with snapshot(session) as conn:
        built = await built_days(conn, period)
        listed = await changed_tickets(conn)
        changed: Any = changed_subquery() if listed is None else listed
        any_changed = listed is None or bool(listed)
        parts: list[Any] = []
        if built:
            d, f = report_daily, report_ticket_facts
            summed = select(d.c.unit, *[d.c[c] for c in SUM_COLUMNS]).where(d.c.day.in_(built))
            undone = select(f.c.unit, *[(-f.c[c]).label(c) for c in SUM_COLUMNS]).where(
                f.c.day.in_(built), f.c.ticket_id.in_(changed)
            )
            if channel:
                summed = summed.where(d.c.channel == channel)
                undone = undone.where(f.c.channel == channel)
            parts += [summed, undone] if any_changed else [summed]
        live = [Ticket.id.in_(changed)] if any_changed else []
        live += [
            (Ticket.created_at >= start) & (Ticket.created_at < end)
            for start, end in unbuilt_ranges(period, built)
        ]
        within = (Ticket.created_at >= period.start) & (Ticket.created_at < period.end)
        if live:
            counted = contributions(within & or_(*live), channel, conn.dialect.name).subquery()
            parts.append(select(counted.c.unit, *[counted.c[c] for c in SUM_COLUMNS]))
        every = union_all(*parts).subquery()
        query = (
            select(every.c.unit, *[func.sum(every.c[c]).label(c) for c in SUM_COLUMNS])
            .group_by(every.c.unit)
            .having(func.sum(every.c[TICKETS]) > 0)
        )
        if department:
            query = query.where(every.c.unit == department)
        rows = (await conn.execute(query)).mappings().all()
    overall, units = Tally(), defaultdict[str, Tally](Tally)
    for row in rows:
        for name in KPIS:
            for i, part in enumerate(("n", "d")):
                value = int(row[f"{name}_{part}"] or 0)
                overall.counts[name][i] += value
                units[row["unit"]].counts[name][i] += value
    return KpiReport(period, channel, department, overall, dict(units))


def contributions(where: ColumnElement[bool], channel: str | None, dialect: str) -> Any:
    """One row per ticket matching `where`: its id, intake time, channel, department
    (`unit`) and what it adds to each numerator and denominator (`SUM_COLUMNS`, in order)."""
    per = _per_ticket(where, channel).subquery()
    unit = func.coalesce(per.c.department, per.c.returned_from, HOTLINE)
    sums = {
        part: per.c[part.replace("_n", ":n").replace("_d", ":d")]
        for name in ("satisfaction_rate", "actual_resolution_rate")
        for part in (f"{name}_n", f"{name}_d")
    }
    for name, (hit, counted) in _conditions(per, local_day_sql(dialect)).items():
        sums[f"{name}_n"] = case((hit & counted, 1), else_=0)
        sums[f"{name}_d"] = case((counted, 1), else_=0)
    columns = [per.c.id, per.c.created_at, per.c.channel, unit.label("unit")]
    return select(*columns, *[sums[c].label(c) for c in SUM_COLUMNS])


async def direct_kpis(
    session: AsyncSession,
    *,
    period: Period,
    department: str | None = None,
    channel: str | None = None,
) -> KpiReport:
    """The reference: counted in one pass over the period's tickets and their events,
    grouped by department, without the summaries (what `compute_kpis` must equal)."""
    within = (Ticket.created_at >= period.start) & (Ticket.created_at < period.end)
    per = _per_ticket(within, channel).subquery()
    unit = func.coalesce(per.c.department, per.c.returned_from, HOTLINE)
    day = local_day_sql(session.bind.dialect.name)
    columns = [unit.label("unit")]
    for name, (hit, counted) in _conditions(per, day).items():
        columns += [_count(hit & counted).label(f"{name}:n"), _count(counted).label(f"{name}:d")]
    for name in ("satisfaction_rate", "actual_resolution_rate"):
        columns += [
            func.sum(per.c[f"{name}:n"]).label(f"{name}:n"),
            func.sum(per.c[f"{name}:d"]).label(f"{name}:d"),
        ]
    query = select(*columns).group_by(unit)
    if department:
        query = query.where(unit == department)
    overall, units = Tally(), defaultdict[str, Tally](Tally)
    for row in (await session.execute(query)).mappings():
        for key, value in row.items():
            if key != "unit":
                name, part = key.split(":")
                for tally in (overall, units[row["unit"]]):
                    tally.counts[name][0 if part == "n" else 1] += int(value or 0)
    return KpiReport(period, channel, department, overall, dict(units))


def _conditions(per: Any, day: Callable[[Any], Any]) -> dict[str, tuple[Any, Any]]:
    """Each KPI counted from the per-ticket facts: (numerator's condition, denominator's)."""
    c = per.c
    dispatched = c.first_dispatch.is_not(None)
    replied = c.first_reply.is_not(None)
    sms = c.channel == "sms"
    closed = (c.status == TicketStatus.CLOSED.value) & (func.coalesce(c.declined, 0) == 0)
    accepted = (c.accepted == 1) | ((c.direct == 1) & (func.coalesce(c.declined, 0) == 0))
    return {
        "sms_reply_rate": (
            c.first_answer.is_not(None) & (day(c.first_answer) == day(c.created_at)),
            sms,
        ),
        "on_time_transfer": (day(c.first_dispatch) == day(c.created_at), dispatched),
        "on_time_reply": (c.due_at.is_(None) | (c.first_reply <= c.due_at), replied),
        "closure_rate": (closed, accepted),
        "direct_answer_rate": (closed & (c.direct == 1), accepted),
        "return_rate": (c.returned == 1, dispatched),
        "extension_rate": (c.extended == 1, dispatched),
        "repeat_rate": (c.repeat_count > 0, true()),
    }


def local_day_sql(dialect: str) -> Callable[[Any], Any]:
    """The hotline's calendar day of a UTC time, in SQL (China keeps no summer time)."""
    if dialect == "postgresql":
        return lambda at: func.date(func.timezone("Asia/Shanghai", at))
    return lambda at: func.date(at, "+8 hours")


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _per_ticket(where: ColumnElement[bool], channel: str | None) -> Any:
    """One row per ticket matching `where`: its own columns and what its events say (the
    tickets found by their time index or id, their events by the ticket index)."""
    e = TicketEvent
    kind = e.kind
    resolution = e.data["resolution"].as_string()
    closed = kind == EventKind.CLOSED.value
    rated = kind == EventKind.RATED.value
    rating, solved = e.data["rating"].as_string(), e.data["solved"].as_string()
    direct = closed & (
        (resolution == "direct_answer")
        | (resolution.is_(None) & e.data["direct_answer"].as_string().is_not(None))
    )
    declined = closed & (
        (resolution == "declined")
        | (resolution.is_(None) & e.data["out_of_scope"].as_string().is_not(None))
    )
    own = (
        Ticket.id,
        Ticket.created_at,
        Ticket.channel,
        Ticket.department,
        Ticket.status,
        Ticket.due_at,
        Ticket.repeat_count,
    )
    query = (
        select(
            *own,
            _flag(kind == EventKind.ACCEPTED.value).label("accepted"),
            _first(kind == EventKind.DISPATCHED.value).label("first_dispatch"),
            _flag(kind == EventKind.RETURNED.value).label("returned"),
            func.max(
                case((kind == EventKind.RETURNED.value, e.data["from_department"].as_string()))
            ).label("returned_from"),
            _flag(kind == EventKind.EXTENSION_GRANTED.value).label("extended"),
            _first(kind == EventKind.REPLIED.value).label("first_reply"),
            _first(kind.in_([EventKind.REPLIED.value, EventKind.CLOSED.value])).label(
                "first_answer"
            ),
            _flag(direct).label("direct"),
            _flag(declined).label("declined"),
            _count(rated & rating.in_(sorted(SATISFIED))).label("satisfaction_rate:n"),
            _count(rated & rating.in_(sorted(RATINGS))).label("satisfaction_rate:d"),
            _count(rated & cast(solved, String).in_(["true", "1"])).label(
                "actual_resolution_rate:n"
            ),
            _count(rated & solved.is_not(None)).label("actual_resolution_rate:d"),
        )
        .select_from(Ticket)
        .outerjoin(e, e.ticket_id == Ticket.id)
        .where(where)
        .group_by(*own)
    )
    return query.where(Ticket.channel == channel) if channel else query


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.max(case((condition, 1), else_=0))


def _first(condition: ColumnElement[bool]) -> Any:
    return func.min(case((condition, TicketEvent.created_at)))
