"""A report's period: dates of the hotline's own day (Asia/Shanghai), `to` inclusive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from intake.domain.clock import SHANGHAI
from intake.domain.errors import InvalidInput

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), SHANGHAI)

    @property
    def end(self) -> datetime:
        """Exclusive: the midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(), SHANGHAI)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length just before (what a spike is measured against)."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    @classmethod
    def parse(cls, first: str | None, last: str | None, *, today: date) -> Period:
        """`YYYY-MM-DD` dates; without them, the last 30 days up to today."""
        end = _date(last, "to") if last else today
        start = _date(first, "from") if first else end - timedelta(days=29)
        if start > end:
            raise InvalidInput("'from' is after 'to'", field="from")
        if (end - start).days >= MAX_DAYS:
            raise InvalidInput(f"a report covers at most {MAX_DAYS} days", field="from")
        return cls(start, end)

    @classmethod
    def last_days(cls, days: int, *, today: date) -> Period:
        return cls(today - timedelta(days=days - 1), today)


def local_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidInput(f"'{name}' must be a date, YYYY-MM-DD", field=name) from None
