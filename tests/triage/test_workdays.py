from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.triage.deadlines import DeadlineRules
from intake.triage.workdays import SHANGHAI, WorkCalendar, add_working_days, covers_year


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


CAL = WorkCalendar()

# 2025 National Day: 1–8 October off, Sunday 28 September and Saturday 11 October worked (调休).
# 2025 Spring Festival: 28 January – 4 February off; Sunday 26 Jan and Saturday 8 Feb worked.
ADD_CASES = [
    (at(2025, 9, 30, 10), 1, at(2025, 10, 9, 10)),  # across the whole National Day holiday
    (at(2025, 9, 30, 10), 5, at(2025, 10, 14, 10)),  # counts Saturday 11 October (调休)
    (at(2025, 9, 27, 9), 1, at(2025, 9, 29, 0)),  # Saturday start; Sunday 28 Sept is worked
    (at(2025, 1, 27, 12), 1, at(2025, 2, 5, 12)),  # Spring Festival
    (at(2025, 2, 7, 15), 1, at(2025, 2, 8, 15)),  # Friday → Saturday 8 Feb (调休)
    (at(2025, 6, 6, 15), 1, at(2025, 6, 9, 15)),  # ordinary Friday → Monday
    (at(2025, 6, 9, 8), 0.5, at(2025, 6, 9, 20)),  # half a working day
    (at(2025, 6, 7, 10), 15, at(2025, 6, 28, 0)),  # complaint: 15 working days from a Saturday
]


@pytest.mark.parametrize(("start", "days", "due"), ADD_CASES)
def test_add_working_days_on_official_calendar(start: datetime, days: float, due: datetime) -> None:
    assert CAL.add_working_days(start, days) == due


def test_makeup_days_are_working_days() -> None:
    assert CAL.is_working_day(date(2025, 10, 11))  # Saturday, 调休
    assert CAL.is_working_day(date(2025, 9, 28))  # Sunday, 调休
    assert not CAL.is_working_day(date(2025, 10, 6))  # Monday, holiday
    assert not CAL.is_working_day(date(2025, 10, 12))  # ordinary Sunday


def test_working_time_between_skips_rest_days() -> None:
    assert CAL.working_time_between(at(2025, 9, 30, 12), at(2025, 10, 9, 12)) == timedelta(days=1)
    assert CAL.working_time_between(at(2025, 10, 9, 12), at(2025, 9, 30, 12)) == -timedelta(days=1)
    assert CAL.working_days_between(at(2025, 6, 6), at(2025, 6, 9)) == 1.0


def test_paused_clock_extends_the_due_moment() -> None:
    start = at(2025, 6, 9, 9)  # an ordinary Monday (2 June 2025 was Dragon Boat Festival)
    plain = CAL.add_working_days(start, 5)
    assert plain == at(2025, 6, 16, 9)
    # waiting for the citizen Tuesday 09:00 → Wednesday 09:00 (one working day)
    paused = CAL.add_working_days(start, 5, pauses=[(at(2025, 6, 10, 9), at(2025, 6, 11, 9))])
    assert paused == at(2025, 6, 17, 9)
    # overlapping pauses are merged; pauses over a weekend cost nothing
    weekend = CAL.add_working_days(
        start,
        5,
        pauses=[(at(2025, 6, 14), at(2025, 6, 15, 12)), (at(2025, 6, 15), at(2025, 6, 16))],
    )
    assert weekend == plain


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2025, 6, 2, 9), 1)


COLOURS = [
    (at(2025, 6, 2, 9), at(2025, 6, 9, 9), "green"),
    (at(2025, 6, 6, 12), at(2025, 6, 9, 9), "yellow"),  # < 1 working day left over a weekend
    (at(2025, 6, 9, 9), at(2025, 6, 9, 9), "red"),
    (at(2025, 6, 10, 9), at(2025, 6, 9, 9), "red"),
]


@pytest.mark.parametrize(("now", "due", "colour"), COLOURS)
def test_deadline_colour(now: datetime, due: datetime, colour: str) -> None:
    assert CAL.deadline_colour(now, due) == colour


def test_coverage_and_override_file(tmp_path: Path) -> None:
    assert covers_year(2025)
    assert not WorkCalendar(None).covers_year(2199)
    override = tmp_path / "holidays.yaml"
    override.write_text(
        "years:\n  2199:\n    holidays: [2199-01-01]\n    workdays: [2199-01-04]\n",
        encoding="utf-8",
    )
    cal = WorkCalendar(override)
    assert cal.covers_year(2199)
    assert not cal.is_working_day(date(2199, 1, 1))  # a Tuesday declared holiday
    assert cal.is_working_day(date(2199, 1, 4))  # a Sunday declared working day
    assert cal.coverage_warnings(date(2198, 6, 1)) == [
        w for w in cal.coverage_warnings(date(2198, 6, 1)) if "2198" in w
    ]
    assert len(WorkCalendar(None).coverage_warnings(date(2198, 6, 1))) == 2


def test_bad_override_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("years:\n  2199:\n    holidays: [2199-13-01]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        WorkCalendar(bad)


def test_ticket_deadlines_by_type_and_category() -> None:
    rules = DeadlineRules.load()
    received = at(2025, 9, 30, 10)
    complaint = rules.compute(received, "complaint", "noise")
    assert complaint.accept_by == at(2025, 10, 9, 10)
    assert complaint.finish_working_days == 15
    assert complaint.finish_by == add_working_days(received, 15)
    assert rules.compute(received, "consultation").finish_by == at(2025, 10, 14, 10)
    assert rules.compute(received, "report").finish_working_days == 30
    assert rules.finish_days("help", "water-supply") == 2  # category override
    assert rules.finish_days("help", "noise") == 5


def _walk_day_by_day(cal: WorkCalendar, start: datetime, amount: timedelta) -> datetime:
    """The obvious definition, one calendar day at a time: the fast `_add` must agree."""
    cursor, remaining = start.astimezone(SHANGHAI), amount
    while True:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), tzinfo=SHANGHAI)
        if cal.is_working_day(cursor.date()):
            if remaining <= midnight - cursor:
                return cursor + remaining
            remaining -= midnight - cursor
        cursor = midnight


def test_whole_day_jumps_agree_with_walking_day_by_day() -> None:
    cal = WorkCalendar()
    rng = random.Random(12345)
    base = datetime(2025, 9, 20, tzinfo=SHANGHAI)  # National Day and its 调休 weekends ahead
    for _ in range(2000):
        start = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 60))
        days = rng.choice([0, 0.5, 1, 2, 3, 5, 7.25, 10, 15, 20])
        amount = timedelta(days=days)
        assert cal.add_working_days(start, days) == _walk_day_by_day(cal, start, amount), (
            start,
            days,
        )
