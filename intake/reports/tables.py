"""The report summaries: per-day sums that make a report read a few hundred rows instead of
every ticket of its period, and what keeps them exact as tickets change.

- `report_days`: the days whose summaries are built. A day not listed is counted from its
  tickets (so today's figures, and any day never summarised, are always live).
- `report_ticket_facts`: what each ticket of a built day adds to the sums (its KPI numerators
  and denominators, its category, street and title words), so that a change can be undone.
- `report_daily`: per (day, department, channel) the sums of those numerators/denominators.
- `report_daily_topics`: per (day, kind, topic) how many tickets name a category, street or word.
- `report_changes`: the ids of tickets changed since the summaries last took them in. Database
  triggers (migration 0010) append to it in the transaction of every change to a ticket or to
  its events, whatever code makes it; a report corrects the sums for these tickets, and the
  summary worker folds them in and deletes the ids it read.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Integer, String, Table

from intake.domain.models import Base, Id, UTCDateTime

KPI_NAMES = (
    "sms_reply_rate",
    "on_time_transfer",
    "on_time_reply",
    "closure_rate",
    "direct_answer_rate",
    "actual_resolution_rate",
    "satisfaction_rate",
    "return_rate",
    "extension_rate",
    "repeat_rate",
)
# each KPI's numerator and denominator; `repeat_rate_d` is the number of tickets
SUM_COLUMNS = tuple(f"{name}_{part}" for name in KPI_NAMES for part in ("n", "d"))
TICKETS = "repeat_rate_d"


def _sums() -> list[Column[int]]:
    return [Column(name, Integer, nullable=False, default=0) for name in SUM_COLUMNS]


report_days = Table(
    "report_days",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("built_at", UTCDateTime(timezone=True), nullable=False),
)

report_ticket_facts = Table(
    "report_ticket_facts",
    Base.metadata,
    Column("ticket_id", Id, primary_key=True),
    Column("day", Date, nullable=False, index=True),
    Column("unit", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    *_sums(),
    Column("category", String(64)),
    Column("street", String(130)),
    Column("words", JSON, nullable=False),
)

report_daily = Table(
    "report_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    *_sums(),
)

report_daily_topics = Table(
    "report_daily_topics",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("kind", String(16), primary_key=True),  # categories | streets | words
    Column("topic", String(200), primary_key=True),
    Column("count", Integer, nullable=False),
)

report_changes = Table(
    "report_changes",
    Base.metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, nullable=False),
)
