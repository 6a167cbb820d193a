"""Instant replies from a message's outcome, rendered from the core's text catalogue.

A reply that stands in for a notifier job (a new request's acknowledgement, triage's answer at
once) renders that job's own template with the same facts (`intake.texts`), so the citizen reads
the same words whether the channel answered in the same breath or the notifier did.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.enums import TicketStatus
from intake.ingest.outcomes import Outcome
from intake.texts import Renderer
from intake.texts.facts import ticket_context

HOTLINE_ZONE = ZoneInfo("Asia/Shanghai")


class Replies:
    def __init__(self, renderer: Renderer, *, zone: tzinfo = HOTLINE_ZONE) -> None:
        self._renderer = renderer
        self._zone = zone

    @classmethod
    def load(
        cls, folder: Path | None = None, *, lang: str = "zh", zone: tzinfo = HOTLINE_ZONE
    ) -> Replies:
        """`folder`: the operator's overrides (`INTAKE_NOTIFY__TEMPLATES_DIR`)."""
        return cls(Renderer(override=folder, default_lang=lang), zone=zone)

    def text(self, name: str, **values: object) -> str:
        return self._renderer.text(name, values)

    def acknowledgement(
        self, number: str, query_code: str | None, *, emergency: str | None = None
    ) -> str:
        """The notifier's `ack` job in the same words (`notifier.planner`), when only the
        number is known yet (a guided request filed before the pipeline's outcome)."""
        outcome = Outcome(intent="new_request", ticket=number, query_code=query_code)
        return self._job_text(number, outcome, "ack", emergency=emergency or "")

    def _job_text(self, number: str, outcome: Outcome, template: str, **values: Any) -> str:
        """A notifier job's template with the context the job would have."""
        context = ticket_context(
            number=number,
            query_code=outcome.query_code,
            title=outcome.title,
            request_type=outcome.request_type,
            department=None,  # a new ticket has none yet
            due_at=datetime.fromisoformat(outcome.due) if outcome.due else None,
            zone=self._zone,
            template=template,
        )
        context.update(values)
        return self._renderer.text(template, context)

    def with_emergency(self, text: str | None, advice: EmergencyAdvice | None) -> str | None:
        """The answer with the emergency advice leading it, unless it already says it (the
        acknowledgement of an emergency does); the advice alone when there is no answer yet."""
        if advice is None or (text and advice.advice in text):
            return text
        if not text:
            return advice.advice
        return self.text(
            "emergency", advice=advice.advice, emergency_number=advice.number, text=text
        )

    def for_outcome(self, outcome: Outcome) -> str | None:
        """What to tell the citizen at once; None when nothing should be said (flood, events)."""
        ticket = outcome.ticket
        if outcome.intent == "new_request" and ticket:
            if outcome.reply and outcome.status == TicketStatus.CLOSED.value:
                job = outcome.answered_job or "closed"  # the notifier's job at intake
                return self._job_text(ticket, outcome, job, text=outcome.reply, at_intake=True)
            # an open ticket with a reply at once: the emergency advice leads the ack
            return self._job_text(ticket, outcome, "ack", emergency=outcome.reply or "")
        if outcome.intent == "follow_up" and ticket:
            return outcome.reply or self.text("follow_up", number=ticket)
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
                "status_one", number=outcome.ticket, status=TicketStatus(outcome.status).label_zh
            )
        if not outcome.tickets:
            return self.text("status_none")
        tickets = [
            {"number": t["number"], "status": TicketStatus(t["status"]).label_zh}
            for t in outcome.tickets
        ]
        return self.text("status_list", count=len(tickets), tickets=tickets)
