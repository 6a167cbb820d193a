"""Instant replies from a message's outcome, with texts from an editable data file."""

from __future__ import annotations

from pathlib import Path

import yaml

from intake.emergency_advice import EmergencyAdvice
from intake.enums import TicketStatus
from intake.errors import ConfigurationError
from intake.outcomes import Outcome

DEFAULT_FILE = Path(__file__).parent / "data" / "replies.yaml"
EMERGENCY_FRAME = "{advice}\n{text}"  # for a replies file of an older release without one


class Replies:
    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    @classmethod
    def load(cls, path: Path | None = None) -> Replies:
        source = path or DEFAULT_FILE
        try:
            texts = yaml.safe_load(source.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read replies from {source}: {exc}") from exc
        return cls({str(k): str(v) for k, v in texts.items()})

    def text(self, name: str, **values: object) -> str:
        return self._texts[name].format(**values)

    def template(self, name: str) -> str | None:
        """The raw text with its placeholders; None when the file has none of that name."""
        return self._texts.get(name)

    def with_emergency(self, text: str | None, advice: EmergencyAdvice | None) -> str | None:
        """The answer with the emergency advice leading it, unless it already says it (the
        pipeline's urgent reply does); the advice alone when there is no answer yet."""
        if advice is None or (text and advice.advice in text):
            return text
        if not text:
            return advice.advice
        frame = self._texts.get("emergency", EMERGENCY_FRAME)
        return frame.format(advice=advice.advice, number=advice.number, text=text)

    def for_outcome(self, outcome: Outcome) -> str | None:
        """What to tell the citizen at once; None when nothing should be said (flood, events)."""
        ticket = outcome.ticket
        if outcome.intent == "new_request" and ticket:
            if outcome.reply and outcome.status == TicketStatus.CLOSED.value:
                return self.text("new_request_answered", ticket=ticket, reply=outcome.reply)
            if outcome.reply:
                return self.text("urgent", ticket=ticket, reply=outcome.reply)
            return self.text("new_request", ticket=ticket, query_code=outcome.query_code)
        if outcome.intent == "follow_up" and ticket:
            return outcome.reply or self.text("follow_up", ticket=ticket)
        if outcome.intent == "status_query":
            return self.status(outcome)
        if outcome.intent == "rating":
            return outcome.reply
        if outcome.intent in ("opt_out", "opt_in"):
            return self.text(outcome.intent)
        return None

    def status(self, outcome: Outcome) -> str:
        if outcome.ticket and outcome.status:
            return self.text(
                "status_one", ticket=outcome.ticket, status=TicketStatus(outcome.status).label_zh
            )
        if not outcome.tickets:
            return self.text("status_none")
        lines = "\n".join(
            self.text("status_line", ticket=t["number"], status=TicketStatus(t["status"]).label_zh)
            for t in outcome.tickets
        )
        return self.text("status_list", count=len(outcome.tickets), lines=lines)
