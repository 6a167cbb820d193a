"""Time in one place, injectable, so that tests control it instead of waiting for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def intake_day(at: datetime) -> str:
    """The YYYYMMDD of the intake day in Asia/Shanghai, the prefix of ticket numbers."""
    return at.astimezone(SHANGHAI).strftime("%Y%m%d")
