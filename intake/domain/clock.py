"""Time in one place, injectable, so that tests control it instead of waiting for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def intake_day(at: datetime) -> str:
    """The YYYYMMDD of the intake day in Asia/Shanghai, the prefix of ticket numbers."""
    return _day_of_utc_hour(int(at.timestamp()) // 3600)


@lru_cache(maxsize=256)
def _day_of_utc_hour(hour: int) -> str:
    """Shanghai's offset is whole hours, so the day is the same for the whole UTC hour."""
    return datetime.fromtimestamp(hour * 3600, SHANGHAI).strftime("%Y%m%d")
