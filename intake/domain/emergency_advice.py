"""What the citizen is told at once when a message reports an emergency happening now.

Found by the emergency guard the moment a message is accepted (`intake.triage.alarm`) and
carried on the receipt, so that every channel's first answer says it in the same words: the
web API's `201` answer and confirmation page, WeChat's passive reply, the Telegram bot, and
the SMS or e-mail acknowledgement. The words are the guard rule's reply (emergency.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class EmergencyAdvice:
    number: str  # the service to call now: 110, 119, 120 or 122
    service: str  # its name, e.g. 消防救援
    advice: str  # the sentence the citizen reads
    rule_id: str

    def to_dict(self) -> dict[str, str]:
        """What edges show and events carry (the web API's `emergency` field)."""
        return {"number": self.number, "service": self.service, "advice": self.advice}

    @classmethod
    def from_dict(cls, data: Any) -> EmergencyAdvice | None:
        """From an event's data; None for anything that is not one."""
        if not isinstance(data, dict) or not data.get("number") or not data.get("advice"):
            return None
        return cls(
            number=str(data["number"]),
            service=str(data.get("service") or ""),
            advice=str(data["advice"]),
            rule_id=str(data.get("rule_id") or ""),
        )


class EmergencyCheck(Protocol):
    """What the gateway asks about each message (`intake.triage.alarm.Alarm`)."""

    def check(self, text: str) -> EmergencyAdvice | None: ...
