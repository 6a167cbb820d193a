"""Triage's suggestions for a call while the agent types it: category, department, the
knowledge-base answers to give at once (直接答复), and the emergency or out-of-scope advice.

The same assessment the pipeline makes (`intake.triage`), run on the text as it stands; pure
CPU, nothing stored. What the agent then files is triaged again by the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from intake.catalog import Catalog
from intake.triage.kit import TriageKit
from intake.triage.models import KbAnswer

MIN_CHARS = 5  # as the form asks of the content


@dataclass(frozen=True)
class Suggestion:
    category: str  # code
    category_name: str
    confidence: float
    department: str | None  # code
    department_name: str | None
    request_type: str
    answers: tuple[KbAnswer, ...] = ()  # the direct answer first, then the suggested ones
    emergency: str | None = None  # what to tell the caller now (the emergency number)
    out_of_scope: str | None = None  # where the matter belongs instead (不予受理)
    needs_human: str | None = None  # why triage would not decide alone
    co_departments: tuple[str, ...] = field(default_factory=tuple)


def suggest(
    kit: TriageKit | None,
    catalog: Catalog,
    *,
    text: str,
    address: str | None = None,
    request_type: str | None = None,
) -> Suggestion | None:
    """None when there is too little text, or triage is off."""
    text = text.strip()
    if kit is None or len(text) < MIN_CHARS:
        return None
    decision = kit.triage.assess(text, location_label=address, request_type_hint=request_type)
    label = decision.category.label
    category = kit.triage.catalogue.categories.get(label)  # the fallback for an unknown one
    department = decision.routing.primary or None
    known = catalog.departments.get(department) if department else None
    answers = tuple(a for a in (decision.kb_answer, *decision.suggested_answers) if a)
    outside = decision.out_of_scope or decision.out_of_scope_suggestion
    return Suggestion(
        category=label,
        category_name=category.name if category.code == label else label,
        confidence=round(decision.category.confidence, 2),
        department=department,
        department_name=known.name if known else department,
        request_type=decision.request_type.label,
        answers=tuple({a.entry_id: a for a in answers}.values()),
        emergency=decision.emergency.reply if decision.emergency else None,
        out_of_scope=outside.reply if outside else None,
        needs_human=decision.human_reason if decision.needs_human else None,
        co_departments=decision.routing.co_handlers,
    )
