"""What to answer a citizen's own message: the core chooses the template and its facts.

`reply_for` is the one choice, for every way the answer goes out: a channel's own answer in
the same breath (WeChat's passive reply, the Telegram bot, through `Replies`) and the
notifier's instant reply (SMS, e-mail …), which renders the same `Reply` from the same
catalogue (`intake.texts`). A reply that stands in for a notifier job (a new request's
acknowledgement, triage's answer at once) is that job's own template with the same facts, so
the citizen reads the same words whether the channel answered or the notifier did.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.enums import TicketStatus
from intake.ingest.outcomes import Outcome, Reply
from intake.texts import Renderer
from intake.texts.facts import ticket_context

HOTLINE_ZONE = ZoneInfo("Asia/Shanghai")
# the wrapper of an answer a pipeline step already worded (a rules file's reply, a rating's
# thanks): said as written, in a template an operator may still override
AS_WRITTEN = "as_written"


def reply_for(outcome: Outcome, *, zone: tzinfo = HOTLINE_ZONE) -> Reply | None:
    """What to tell the citizen at once; None when nothing should be said (flood, events)."""
    ticket = outcome.ticket
    if outcome.intent == "new_request" and ticket:
        if outcome.reply and outcome.status == TicketStatus.CLOSED.value:
            job = outcome.answered_job or "closed"  # the notifier's job at intake
            return job_reply(outcome, job, zone, text=outcome.reply, at_intake=True)
        # an open ticket with a reply at once: the emergency advice leads the ack
        return job_reply(outcome, "ack", zone, emergency=outcome.reply or "")
    if outcome.intent == "follow_up" and ticket:
        if outcome.reply:
            return Reply(AS_WRITTEN, {"text": outcome.reply, "number": ticket})
        return Reply("follow_up", {"number": ticket})
    if outcome.intent == "status_query":
        return status_reply(outcome)
    if outcome.intent == "rating":
        return Reply(AS_WRITTEN, {"text": outcome.reply}) if outcome.reply else None
    if outcome.intent in ("opt_out", "opt_in"):
        return Reply(outcome.intent)
    return None


def job_reply(outcome: Outcome, template: str, zone: tzinfo, **values: Any) -> Reply:
    """A notifier job's template with the context the job would have (a new ticket has no
    department yet)."""
    facts = ticket_context(
        number=outcome.ticket or "",
        query_code=outcome.query_code,
        title=outcome.title,
        request_type=outcome.request_type,
        department=None,
        due_at=datetime.fromisoformat(outcome.due) if outcome.due else None,
        zone=zone,
        template=template,
    )
    facts.update(values)
    return Reply(template, facts)


def status_reply(outcome: Outcome) -> Reply:
    if outcome.ticket and outcome.status:
        label = TicketStatus(outcome.status).label_zh
        return Reply("status_one", {"number": outcome.ticket, "status": label})
    if not outcome.tickets:
        return Reply("status_none")
    tickets = [
        {"number": t["number"], "status": TicketStatus(t["status"]).label_zh}
        for t in outcome.tickets
    ]
    return Reply("status_list", {"count": len(tickets), "tickets": tickets})


class Replies:
    """The channels' own answers in the same breath: `reply_for`, rendered here."""

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

    def render(self, reply: Reply | None) -> str | None:
        return self._renderer.text(reply.template, reply.facts) if reply else None

    def acknowledgement(
        self, number: str, query_code: str | None, *, emergency: str | None = None
    ) -> str:
        """The notifier's `ack` job in the same words (`notifier.planner`), when only the
        number is known yet (a guided request filed before the pipeline's outcome)."""
        outcome = Outcome(intent="new_request", ticket=number, query_code=query_code)
        reply = job_reply(outcome, "ack", self._zone, emergency=emergency or "")
        return self._renderer.text(reply.template, reply.facts)

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
        """What to tell the citizen at once, rendered (`reply_for`)."""
        return self.render(reply_for(outcome, zone=self._zone))
