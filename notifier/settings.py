"""The notifier's whole settings section (`INTAKE_NOTIFY__*`): its own, staff alerts' and
the briefings'.

The composition root validates it once at start-up as a typed section of its settings, and
the notifier's loaders (`load_notify_settings`, `load_staff_alert_settings`,
`load_briefing_settings`) then return its parts as they are. A runtime built from the core's
own settings (tests), which keep the section a plain dict, has it validated by those loaders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from notifier.briefing_settings import BriefingSettings
from notifier.config import NotifySettings
from notifier.staff_alerts import StaffAlertSettings


class NotifierSettings(NotifySettings):
    staff: StaffAlertSettings = Field(default_factory=StaffAlertSettings)
    briefings: BriefingSettings = Field(default_factory=BriefingSettings)

    @model_validator(mode="before")
    @classmethod
    def _lower_keys(cls, data: Any) -> Any:
        """Keys are case-insensitive, like the environment's (`SURVEY_DELAY` in a file)."""
        if not isinstance(data, Mapping):
            return data
        lowered = {str(k).lower(): v for k, v in data.items()}
        for part in ("staff", "briefings"):
            if lowered.get(part) is None:
                lowered.pop(part, None)  # an empty `staff:` in a YAML file: the defaults
            elif isinstance(lowered.get(part), Mapping):
                lowered[part] = {str(k).lower(): v for k, v in lowered[part].items()}
        return lowered
