"""The frozen results of triage: what was decided, and the `Decision` trail that says why.

Everything here is immutable and made of plain values so that the core can store it as ticket
events (`Decision.to_dict()`) and compare decisions in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REQUEST_TYPES: tuple[str, ...] = (
    "consultation",
    "help",
    "complaint",
    "report",
    "suggestion",
    "praise",
)


@dataclass(frozen=True, slots=True)
class Decision:
    """One triage step, stored as a ticket event: the rule, the words, the score, the result."""

    step: str
    outcome: str
    rule_id: str | None = None
    matched: tuple[str, ...] = ()
    score: float | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Spelled out: `dataclasses.asdict` deep-copies every value and costs 10× as much."""
        return {
            "step": self.step,
            "outcome": self.outcome,
            "rule_id": self.rule_id,
            "matched": list(self.matched),
            "score": self.score,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class EmergencyHit:
    """The message describes an emergency: tell the citizen the number now, flag urgent."""

    rule_id: str
    service: str
    service_name: str
    matched: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True)
class OutOfScopeHit:
    """The matter belongs to another statutory channel (不予受理); `reply` says where to go."""

    rule_id: str
    name: str
    matched: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A label the learned model considers, its probability, and the words that spoke for it."""

    label: str
    probability: float
    words: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "probability": round(self.probability, 3),
            "words": list(self.words),
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """A label chosen by weighted keywords or the learned model, with its confidence in
    [0, 1] and the evidence; `candidates` are the model's top three when it was asked."""

    label: str
    confidence: float
    score: float
    matched: tuple[str, ...] = ()
    runner_up: str | None = None
    source: str = "keywords"  # keywords | hint | default | fallback | model | unsure
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True, slots=True)
class KbAnswer:
    """A knowledge-base entry: the direct answer (直接答复), or one suggested to the agent."""

    entry_id: str
    title: str
    score: float
    answer: str
    matched: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "title": self.title,
            "score": round(self.score, 3),
            "answer": self.answer,
            "matched": list(self.matched),
        }


@dataclass(frozen=True, slots=True)
class Routing:
    """Where the ticket goes: the competent department, co-handlers and the place (属地)."""

    primary: str
    co_handlers: tuple[str, ...] = ()
    district: str | None = None
    district_name: str | None = None
    street: str | None = None
    local_office: str | None = None
    place_source: str | None = None  # text | location_label | None


@dataclass(frozen=True, slots=True)
class TriageDecision:
    """Everything triage decided for one request; `decisions` is the trail to store as events."""

    request_type: Classification
    category: Classification
    routing: Routing
    emergency: EmergencyHit | None = None
    out_of_scope: OutOfScopeHit | None = None
    kb_answer: KbAnswer | None = None  # closes the ticket (直接答复)
    needs_human: bool = False
    human_reason: str | None = None
    urgent: bool = False
    decisions: tuple[Decision, ...] = field(default_factory=tuple)
    # for the agent, never acted on: answers one `reply` can send, a possible 不予受理
    suggested_answers: tuple[KbAnswer, ...] = ()
    out_of_scope_suggestion: OutOfScopeHit | None = None
    model_version: str | None = None  # the learned model asked, if any

    @property
    def direct_answer(self) -> bool:
        """True when the ticket can be closed at once with the knowledge-base answer."""
        return self.kb_answer is not None and not self.needs_human

    @property
    def immediate_reply(self) -> str | None:
        """The text to send on the citizen's channel at once, if any (emergency first)."""
        if self.emergency is not None:
            return self.emergency.reply
        if self.out_of_scope is not None:
            return self.out_of_scope.reply
        if self.kb_answer is not None:
            return self.kb_answer.answer
        return None
