"""What one job carries: a deterministic key, a template, whom it is for, and when.

Keys name the fact a message is about, never the moment it is planned, so that planning the
same domain event twice yields the same keys and the second enqueue is a no-op:
`ack:<ticket>`, `reply:<event>`, `survey:<close event>`, `staff:dispatched:<event>:<staff>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

CITIZEN = "citizen"
STAFF = "staff"

# Messages a citizen may decline (opt-out); service messages about their own request are not.
NON_ESSENTIAL = frozenset({"survey", "reminder", "dimensions"})
# The answer to a citizen's own message (`notifier.instant`): it goes out at once, quiet
# hours or not, and the citizen's opt-out does not stop it.
INSTANT_REPLY = "instant_reply"
# Citizen messages about which an agent must call when no channel reaches the citizen.
NEEDS_CALLBACK = frozenset({"reply", "closed", "declined", "survey", "dimensions"})


@dataclass(frozen=True)
class JobSpec:
    key: str
    template: str
    number: str
    audience: str = CITIZEN
    staff_id: int | None = None
    prompt_id: int | None = None
    event_id: str | None = None
    text: str | None = None
    urgent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # not before (None: now)

    def kwargs(self) -> dict[str, Any]:
        """The job's arguments: every field but `at` (the queue's due time)."""
        data = {name: getattr(self, name) for name in _ARGUMENTS}
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_kwargs(cls, data: dict[str, Any]) -> JobSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


_ARGUMENTS = tuple(f.name for f in fields(JobSpec) if f.name != "at")
