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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from intake.enums import EventKind, TicketStatus
from intake.models import Ticket, TicketEvent
from intake.reports.period import Period

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
    """Counted in the database in one pass over the period's tickets and their events,
    grouped by department: a few rows come back, whatever the number of tickets."""
    per = _per_ticket(period, channel).subquery()
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


def _per_ticket(period: Period, channel: str | None) -> Any:
    """One row per ticket of the period: its own columns and what its events say (the
    tickets found by their time index, their events by the ticket index)."""
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
        .where(Ticket.created_at >= period.start, Ticket.created_at < period.end)
        .group_by(*own)
    )
    return query.where(Ticket.channel == channel) if channel else query


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.max(case((condition, 1), else_=0))


def _first(condition: ColumnElement[bool]) -> Any:
    return func.min(case((condition, TicketEvent.created_at)))
