"""Ticket deadlines from data/deadlines.yaml: accept-by and finish-by on the working-day calendar.

Limits are per request type with per-category overrides (the usual 12345 rules: accept in 1
working day, consultation 5, complaint 15, report 30). The core stores both moments on the
ticket and recomputes finish-by with `pauses` when the clock has been stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from intake.domain.errors import ConfigurationError
from intake.triage.catalogue import DATA_DIR, read_yaml
from intake.triage.models import REQUEST_TYPES
from intake.triage.workdays import Interval, WorkCalendar, default_calendar

DEFAULT_FINISH_DAYS = 15.0


@dataclass(frozen=True, slots=True)
class TicketDeadlines:
    accept_by: datetime
    finish_by: datetime
    accept_working_days: float
    finish_working_days: float


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    accept_working_days: float
    finish_working_days: dict[str, float]
    category_overrides: dict[str, dict[str, float]]
    warn_before_working_days: float = 1.0

    @classmethod
    def load(cls, path: Path | str = DATA_DIR / "deadlines.yaml") -> DeadlineRules:
        data = read_yaml(Path(path))
        finish = {str(k): float(v) for k, v in (data.get("finish_working_days") or {}).items()}
        overrides = {
            str(cat): {str(k): float(v) for k, v in (spec or {}).items()}
            for cat, spec in (data.get("categories") or {}).items()
        }
        types = set(finish).union(*(set(o) for o in overrides.values()))
        if types - set(REQUEST_TYPES):
            raise ConfigurationError(
                f"{path}: unknown request types {sorted(types - set(REQUEST_TYPES))}"
            )
        if any(v < 0 for v in finish.values()):
            raise ConfigurationError(f"{path}: limits must not be negative")
        return cls(
            accept_working_days=float(data.get("accept_working_days", 1)),
            finish_working_days=finish,
            category_overrides=overrides,
            warn_before_working_days=float(data.get("warn_before_working_days", 1)),
        )

    def finish_days(self, request_type: str, category: str | None = None) -> float:
        """The limit for this type, the category's override winning over the type default."""
        override = self.category_overrides.get(category or "", {})
        if request_type in override:
            return override[request_type]
        return self.finish_working_days.get(request_type, DEFAULT_FINISH_DAYS)

    def compute(
        self,
        received_at: datetime,
        request_type: str,
        category: str | None = None,
        *,
        pauses: Iterable[Interval] = (),
        calendar: WorkCalendar | None = None,
    ) -> TicketDeadlines:
        """Accept-by and finish-by for a ticket received at `received_at` (aware datetime)."""
        cal = calendar or default_calendar()
        pauses = tuple(pauses)
        days = self.finish_days(request_type, category)
        return TicketDeadlines(
            accept_by=cal.add_working_days(received_at, self.accept_working_days),
            finish_by=cal.add_working_days(received_at, days, pauses=pauses),
            accept_working_days=self.accept_working_days,
            finish_working_days=days,
        )
