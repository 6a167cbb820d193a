"""Settings of the briefings by e-mail (`INTAKE_NOTIFY__BRIEFINGS__*`, `notify.briefings`).

Apart from `notifier.briefings` so that the settings can be read at start-up without
importing what sends the briefings (the metrics among it, whose folder is chosen later).
"""

from __future__ import annotations

from datetime import time
from typing import Any

from pydantic import BaseModel, Field

from intake.domain.errors import ConfigurationError
from notifier.config import NotifySettings


class BriefingSettings(BaseModel):
    daily_at: time | None = time(8, 0)  # local time, working days; None: not sent
    weekly_at: time | None = time(8, 30)  # Mondays
    monthly_at: time | None = time(9, 0)  # the 1st of the month
    job_timeout: int = Field(default=600, ge=10)  # seconds for rendering and sending
    retry_delay: float = Field(default=60.0, gt=0)  # seconds before a failed send is retried


def load_briefing_settings(notify: dict[str, Any] | NotifySettings) -> BriefingSettings:
    """From `settings.notify`, or the typed section of the root's settings (`notifier.settings`)."""
    if isinstance(notify, NotifySettings):
        briefings = getattr(notify, "briefings", None)
        return briefings if isinstance(briefings, BriefingSettings) else BriefingSettings()
    raw = {str(k).lower(): v for k, v in notify.items()}.get("briefings") or {}
    try:
        return BriefingSettings(**{str(k).lower(): v for k, v in dict(raw).items()})
    except ValueError as exc:
        raise ConfigurationError(f"notify.briefings settings: {exc}") from exc
