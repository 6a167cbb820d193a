"""Working-day calendar (工作日) for deadlines, in Asia/Shanghai.

Working days follow the official calendar published every year by the State Council: weekends and
public holidays are rest days, and some weekend days are declared working days (调休). The
`chinesecalendar` package carries those notices; years it does not cover yet come from an
override file (data/holidays_override.yaml) and `covers_year()` lets start-up warn about them.

Working time accrues only on working days, over the whole calendar day (00:00–24:00 local): a
request received on Friday 15:00 with one working day to go is due Monday 15:00, and one received
on a Saturday is due at the end of the next working day. Clocks that stop (waiting for the
citizen, an approved extension) are handled by `add_working_days(..., pauses=...)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from intake.domain.errors import ConfigurationError
from intake.triage.catalogue import DATA_DIR, read_yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = timedelta(days=1)
MAX_SCAN_DAYS = 3660  # ten years: a guard against a calendar with no working days
Colour = Literal["green", "yellow", "red"]
Interval = tuple[datetime, datetime]


def _aware(moment: datetime) -> datetime:
    """Local Shanghai time; a naive datetime is refused (its zone would be a guess)."""
    if moment.tzinfo is None:
        raise ValueError("working-day arithmetic needs an aware datetime")
    return moment.astimezone(SHANGHAI)


def _next_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + DAY, time(0), tzinfo=SHANGHAI)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


class WorkCalendar:
    """The official calendar plus overrides; `is_working_day` is the single source of truth."""

    def __init__(self, override_file: Path | None = DATA_DIR / "holidays_override.yaml"):
        self.holidays: set[date] = set()
        self.workdays: set[date] = set()
        self.override_years: set[int] = set()
        self._memo: dict[date, bool] = {}
        self._nth: dict[tuple[date, int], date] = {}
        if override_file is not None:
            self._load_overrides(Path(override_file))

    def _load_overrides(self, path: Path) -> None:
        years = read_yaml(path).get("years") or {}
        for year, spec in years.items():
            try:
                holidays = {date.fromisoformat(str(d)) for d in (spec or {}).get("holidays") or ()}
                workdays = {date.fromisoformat(str(d)) for d in (spec or {}).get("workdays") or ()}
            except ValueError as exc:
                raise ConfigurationError(f"{path}: bad date for {year}: {exc}") from exc
            if holidays & workdays:
                raise ConfigurationError(f"{path}: {year}: a date is both holiday and workday")
            self.override_years.add(int(year))
            self.holidays |= holidays
            self.workdays |= workdays

    def covers_year(self, year: int) -> bool:
        """True when the official calendar or the override file knows the year's holidays."""
        return year in self.override_years or _package_covers(year)

    def is_working_day(self, day: date) -> bool:
        """Memoised: chinese_calendar re-validates its whole table on every call (~40 µs)."""
        known = self._memo.get(day)
        if known is None:
            known = self._memo[day] = self._is_working_day(day)
        return known

    def _is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year not in self.override_years and _package_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5  # an uncovered year: Monday to Friday (start-up warned)

    def coverage_warnings(self, today: date) -> list[str]:
        """Messages for start-up when this year or next is not covered by any holiday data."""
        return [
            f"working-day calendar has no official holidays for {year}: add them to the "
            "holiday override file or upgrade chinesecalendar; Monday–Friday assumed"
            for year in (today.year, today.year + 1)
            if not self.covers_year(year)
        ]

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); negative when end is before start."""
        a, b = _aware(start), _aware(end)
        if b < a:
            return -self.working_time_between(end, start)
        total = timedelta(0)
        cursor = a
        while cursor < b:
            boundary = min(_next_midnight(cursor), b)
            if self.is_working_day(cursor.date()):
                total += boundary - cursor
            cursor = boundary
        return total

    def working_days_between(self, start: datetime, end: datetime) -> float:
        return self.working_time_between(start, end) / DAY

    def _add(self, start: datetime, amount: timedelta) -> datetime:
        """The rest of the start day if it is a working day, then whole working days."""
        cursor = _aware(start)
        midnight = _next_midnight(cursor)
        if self.is_working_day(cursor.date()):
            left = midnight - cursor
            if amount <= left:
                return cursor + amount
            amount -= left
        if amount <= timedelta(0):
            return _start_of(self._nth_working_day(midnight.date(), 0))
        whole, rest = divmod(amount, DAY)
        if not rest:  # due at the very end of a working day, not the start of the next one
            whole, rest = whole - 1, DAY
        return _start_of(self._nth_working_day(midnight.date(), whole)) + rest

    def _nth_working_day(self, first: date, n: int) -> date:
        """The n-th (from 0) working day on or after `first`; memoised, deadlines repeat."""
        key = (first, n)
        found = self._nth.get(key)
        if found is None:
            day, seen = first, -1
            for _ in range(MAX_SCAN_DAYS):
                if self.is_working_day(day):
                    seen += 1
                    if seen == n:
                        break
                day += DAY
            else:
                raise ConfigurationError(
                    "no working days found within ten years; check the calendar"
                )
            found = self._nth[key] = day
        return found

    def add_working_days(
        self, start: datetime, days: float, *, pauses: Iterable[Interval] = ()
    ) -> datetime:
        """The moment `days` working days after `start`, with paused intervals not counted.

        Pauses are closed intervals (pass `now` as the end of a pause still running); working
        time inside them, after `start` and before the due moment, extends the due moment.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        merged = _merge(pauses)
        amount = timedelta(days=days)
        due = self._add(start, amount)
        if not merged:
            return due
        for _ in range(len(merged) + 1):  # each round can only pull in later pauses
            paused = sum(
                (
                    self.working_time_between(max(a, start), min(b, due))
                    for a, b in merged
                    if b > start and a < due
                ),
                timedelta(0),
            )
            extended = self._add(start, amount + paused)
            if extended == due:
                break
            due = extended
        return due

    def deadline_colour(
        self, now: datetime, due: datetime, *, warn_before_working_days: float = 1
    ) -> Colour:
        """green inside the limit, yellow within the warning window, red when overdue."""
        if _aware(now) >= _aware(due):
            return "red"
        if self.working_days_between(now, due) <= warn_before_working_days:
            return "yellow"
        return "green"


def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    ordered = sorted((_aware(a), _aware(b)) for a, b in intervals if b > a)
    merged: list[Interval] = []
    for a, b in ordered:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


_default: WorkCalendar | None = None


def default_calendar() -> WorkCalendar:
    """The calendar with the shipped override file, built on first use."""
    global _default
    if _default is None:
        _default = WorkCalendar()
    return _default


def add_working_days(start: datetime, days: float, *, pauses: Iterable[Interval] = ()) -> datetime:
    return default_calendar().add_working_days(start, days, pauses=pauses)


def working_time_between(start: datetime, end: datetime) -> timedelta:
    return default_calendar().working_time_between(start, end)


def covers_year(year: int) -> bool:
    return default_calendar().covers_year(year)


def deadline_colour(now: datetime, due: datetime, *, warn_before_working_days: float = 1) -> Colour:
    return default_calendar().deadline_colour(
        now, due, warn_before_working_days=warn_before_working_days
    )
