"""The notifier's settings, parsed from the loosely typed `settings.notify` section.

The core keeps `notify` a plain dict so that it does not depend on the notifier; this model
validates it once at start-up. Durations are written the way operators write them ("2h", "3d",
"90s", "1d12h") so that `INTAKE_NOTIFY__SURVEY_DELAY=2h` works from the environment.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from intake.domain.errors import ConfigurationError
from intake.ratelimit.buckets import Bucket

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | float | int | timedelta) -> timedelta:
    """'2h' → 2 hours; a bare number is seconds; '1d12h' adds up its parts."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h, 3d)")
    return timedelta(seconds=sum(float(n) * _UNIT[u.lower()] for n, u in parts))


class QuietHours(BaseModel):
    """A daily window in local time, possibly across midnight ("21:00-08:00")."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        try:
            start, end = (time.fromisoformat(p.strip()) for p in text.split("-"))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM (e.g. 21:00-08:00)") from exc
        return cls(start=start, end=end)

    def contains(self, local: datetime) -> bool:
        now = local.time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def next_end(self, local: datetime) -> datetime:
        """The first moment after `local` at which the window ends (the morning)."""
        candidate = local.replace(
            hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
        )
        return candidate if candidate > local else candidate + timedelta(days=1)


DEFAULT_RATES = {
    "sms": Bucket(rate=50, burst=100),
    "email": Bucket(rate=20, burst=50),
    "wechat": Bucket(rate=100, burst=200),
    "telegram": Bucket(rate=30, burst=30),
}


class NotifySettings(BaseModel):
    survey_delay: timedelta = timedelta(hours=2)
    quiet_hours: QuietHours = QuietHours.parse("21:00-08:00")
    rating_expiry: timedelta = timedelta(days=3)
    reminder_before: timedelta = timedelta(days=1)
    yellow_before: timedelta = timedelta(days=1)
    deadline_scan: timedelta = timedelta(minutes=5)
    timezone: str = "Asia/Shanghai"
    language: str = "zh"
    # the operator's folder of texts over the core's catalogue (`intake/texts/`); alias
    # INTAKE_CATALOG__REPLIES_FILE, one folder for bot replies and notifications
    templates_dir: Path | None = None
    quiet_exempt: list[str] = Field(default_factory=lambda: ["ack"])  # answers to a fresh text
    # channels whose own reply carries the acknowledgement, and an answer given at once
    # (WeChat passive replies, the Telegram bot): those jobs wait this long and are skipped
    # when the channel marked them sent (`intake.ingest.send_state.carried_by_reply`)
    passive_ack_grace: dict[str, timedelta] = Field(
        default_factory=lambda: {"wechat": timedelta(seconds=10), "telegram": timedelta(seconds=10)}
    )
    # channels that show the number when the request is made (the web form's confirmation
    # page; the agent reading it out on a call): an acknowledgement no channel carries is
    # then not worth an agent's call back
    acknowledged_on_submit: list[str] = Field(default_factory=lambda: ["web", "phone"])
    rates: dict[str, Bucket] = Field(default_factory=lambda: dict(DEFAULT_RATES))
    recipient_rate: Bucket = Bucket(rate=10 / 3600, burst=10)  # 10 an hour per person
    max_attempts: int = Field(default=6, ge=1)
    retry_base: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)
    inline_wait: float = 0.5  # rate-limit waits up to this long are slept, longer ones deferred
    job_timeout: int = 60  # seconds; a job active longer (a dead worker) is swept and retried
    job_ttl: int = 7 * 86400  # seconds a finished job is kept (re-enqueues stay no-ops)
    sweep_interval: int = 60
    schedule_interval: float = 0.25  # seconds between moves of due jobs to the queue
    concurrency: int = 200  # jobs in progress at once in one process …
    job_batch: int = Field(default=100, ge=1)  # … taken this many per round trip
    claim_idle_ms: int = 30_000
    batch_size: int = 200
    block_ms: int = 1000

    @field_validator(
        "survey_delay",
        "rating_expiry",
        "reminder_before",
        "yellow_before",
        "deadline_scan",
        "retry_base",
        "retry_max",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("passive_ack_grace", mode="before")
    @classmethod
    def _graces(cls, value: Any) -> Any:
        return {k: parse_duration(v) for k, v in dict(value).items()}

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet(cls, value: Any) -> Any:
        return QuietHours.parse(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_notify_settings(raw: dict[str, Any] | NotifySettings) -> NotifySettings:
    """Validate `settings.notify`; keys are case-insensitive like the environment's. The
    composition root's settings hold the section validated already (`notifier.settings`)."""
    if isinstance(raw, NotifySettings):
        return raw
    try:
        return NotifySettings(**{str(k).lower(): v for k, v in raw.items()})
    except ValueError as exc:
        raise ConfigurationError(f"notify settings: {exc}") from exc
