"""Settings of staff alerts: digests and the escalation ladder (`INTAKE_NOTIFY__STAFF__*`).

Kept in the `staff` key of the notify section, so `NotifySettings` stays as it is:
`INTAKE_NOTIFY__STAFF__DIGEST_WINDOW=10m`, and per department in the config file:
`notify.staff.departments.water.supervisor_after = "2h"`.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from intake.domain.errors import ConfigurationError
from notifier.config import NotifySettings, parse_duration

# alerts that never wait for a digest, nor for the staff member's working hours
URGENT_TEMPLATES = (
    "staff_red",
    "staff_unsatisfied",
    "staff_escalated_accept",
    "staff_escalated_overdue",
)


class EscalationRule(BaseModel):
    """When an order nobody acts on goes up: to the department's lead, then the supervisors."""

    enabled: bool = True
    lead_after: timedelta = timedelta(0)  # past the acceptance limit
    supervisor_after: timedelta = timedelta(hours=4)  # past the acceptance limit
    overdue_step_days: int = Field(default=1, ge=1)  # working days per level once overdue

    @field_validator("lead_after", "supervisor_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class StaffAlertSettings(BaseModel):
    digest_window: timedelta = timedelta(minutes=10)  # 0: every alert on its own
    digest_top: int = Field(default=5, ge=1)  # numbers listed in a digest
    urgent: list[str] = Field(default_factory=lambda: list(URGENT_TEMPLATES))
    escalation: EscalationRule = Field(default_factory=EscalationRule)
    departments: dict[str, EscalationRule] = Field(default_factory=dict)
    escalation_scan_limit: int = Field(default=2000, ge=1)
    morning_at: time | None = time(8, 30)  # the working-day list of due and overdue; None: off

    @field_validator("digest_window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    def rule(self, department: str | None) -> EscalationRule:
        return self.departments.get(department or "", self.escalation)


def load_staff_alert_settings(notify: dict[str, Any] | NotifySettings) -> StaffAlertSettings:
    """From `settings.notify`, or the typed section of the root's settings (`notifier.settings`)."""
    if isinstance(notify, NotifySettings):
        staff = getattr(notify, "staff", None)
        return staff if isinstance(staff, StaffAlertSettings) else StaffAlertSettings()
    raw = {str(k).lower(): v for k, v in notify.items()}.get("staff") or {}
    try:
        return StaffAlertSettings(**{str(k).lower(): v for k, v in dict(raw).items()})
    except ValueError as exc:
        raise ConfigurationError(f"notify.staff settings: {exc}") from exc
