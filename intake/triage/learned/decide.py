"""How the learned model's view combines with the keyword rules' for one request.

The model decides the category when its probability reaches the model's threshold (chosen
on held-back rows so that such decisions are right at least 95 % of the time). Below it, an
agent decides: the ticket keeps the rules' label as the best guess (or the model's when no
keyword matched), goes to the hotline queue, and carries the model's top three candidates
with their words. The request type is the model's only when the model was measured better
than the rules and is sure; otherwise the rules'.
"""

from __future__ import annotations

from collections.abc import Collection

from intake.triage.learned.model import Prediction
from intake.triage.models import Candidate, Classification

MODEL = "model"
UNSURE = "unsure"  # the category is left to an agent


def choose_category(
    rules: Classification, prediction: Prediction | None, codes: Collection[str]
) -> Classification:
    if prediction is None or not prediction.categories:
        return rules
    best, candidates = prediction.categories[0], prediction.categories
    if prediction.category_sure and best.label in codes:
        return Classification(
            label=best.label,
            confidence=round(best.probability, 3),
            score=round(best.probability, 3),
            matched=best.words,
            runner_up=_other(candidates, best.label),
            source=MODEL,
            candidates=candidates,
        )
    if rules.source == "fallback" and best.label in codes:
        label, matched = best.label, best.words
    else:
        label, matched = rules.label, rules.matched
    return Classification(
        label=label,
        confidence=round(best.probability, 3),
        score=rules.score,
        matched=matched,
        runner_up=_other(candidates, label),
        source=UNSURE,
        candidates=candidates,
    )


def choose_type(rules: Classification, prediction: Prediction | None) -> Classification:
    if prediction is None or not prediction.type_sure or rules.source == "hint":
        return rules
    best = prediction.types[0]
    return Classification(
        label=best.label,
        confidence=round(best.probability, 3),
        score=round(best.probability, 3),
        runner_up=rules.label if rules.label != best.label else None,
        source=MODEL,
    )


def _other(candidates: tuple[Candidate, ...], label: str) -> str | None:
    return next((c.label for c in candidates if c.label != label), None)
