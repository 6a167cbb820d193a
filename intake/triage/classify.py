"""Request-type and category classification by weighted keyword rules.

Scores are sums of keyword weights; the confidence combines how far the winner is ahead of the
runner-up (share) with how much evidence it has (strength), so that one weak word alone does
not look as certain as several strong ones. Low confidence sends the request to a human triage
queue rather than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence

from intake.triage.catalogue import Category, CategoryCatalogue, TypeRules
from intake.triage.cues import any_in
from intake.triage.models import Classification
from intake.triage.passage import Passage
from intake.triage.text import Hit, Matcher, drop_nested

TYPE = "type"
CATEGORY = "category"
# evidence (total weight) at which strength saturates to 1.0
TYPE_FULL_STRENGTH = 4.0
CATEGORY_FULL_STRENGTH = 6.0
MAX_QUESTION_MARKS = 2
GREETINGS = ("您好", "你好", "喂", "hello", "hi")
PRAISE = "praise"
BARE_THANKS_REST = 3  # a clause of thanks plus at most this many characters ("非常感谢您！")
_LEAD = " ,.!?;:，。！？；：、~…-—\"'“”‘’()（）[]【】"


def register(matcher: Matcher, types: TypeRules, categories: CategoryCatalogue) -> None:
    for type_code, keywords in types.keywords.items():
        for keyword, weight in keywords.items():
            matcher.add((TYPE, type_code), keyword, weight)
    for category in categories.categories:
        for keyword, weight in category.keywords.items():
            matcher.add((CATEGORY, category.code), keyword, weight)


def confidence(top: float, second: float, full_strength: float) -> float:
    """share × strength, in [0, 1]; 0 when nothing matched."""
    if top <= 0:
        return 0.0
    share = top / (top + max(second, 0.0))
    strength = min(1.0, top / full_strength)
    return round(share * strength, 3)


def _tally(hits: Sequence[Hit]) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = {}
    words: dict[str, list[str]] = {}
    for hit in drop_nested(list(hits)):
        label = hit.key[1]
        scores[label] = scores.get(label, 0.0) + hit.weight
        words.setdefault(label, []).append(hit.keyword)
    return scores, words


def _ranked(scores: dict[str, float], order: Sequence[str]) -> list[tuple[str, float]]:
    """Highest score first; ties broken by catalogue order (stable, predictable)."""
    position = {label: i for i, label in enumerate(order)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], position.get(kv[0], 1 << 20)))


def classify_category(hits: Sequence[Hit], catalogue: CategoryCatalogue) -> Classification:
    """The best category, or the fallback (`other`) when no keyword matched."""
    scores, words = _tally(hits)
    ranked = _ranked(scores, [c.code for c in catalogue.categories])
    if not ranked:
        return Classification(catalogue.fallback.code, 0.0, 0.0, source="fallback")
    (label, top), second = ranked[0], (ranked[1] if len(ranked) > 1 else (None, 0.0))
    return Classification(
        label=label,
        confidence=confidence(top, second[1], CATEGORY_FULL_STRENGTH),
        score=top,
        matched=tuple(words[label]),
        runner_up=second[0],
    )


def _opening(text: str, rules: TypeRules) -> tuple[str, str] | None:
    """The type whose opening word starts the message, after greetings and punctuation."""
    start = text.lstrip(_LEAD)
    for greeting in GREETINGS:
        if start.startswith(greeting):
            start = start[len(greeting) :].lstrip(_LEAD)
    for label, openers in rules.openings.items():
        for word in openers:
            if start.startswith(word):
                return label, word
    return None


def polite(hit: Hit, passage: Passage, rules: TypeRules) -> bool:
    """Thanks said out of politeness: in a polite sentence, or alone in a closing clause."""
    if hit.key[1] != PRAISE or hit.keyword not in rules.thanks:
        return False
    start, end = passage.sentence(hit.start)
    if any_in(rules.politeness, passage.text[start:end]):
        return True
    if start == 0:
        return False
    clause_start, clause_end = passage.clause(hit.start)
    return clause_end - clause_start - len(hit.keyword) <= BARE_THANKS_REST


def classify_type(
    hits: Sequence[Hit],
    text: str,
    rules: TypeRules,
    category: Category | None,
    passage: Passage | None = None,
) -> Classification:
    """The best request type; question marks and the category's usual type add evidence."""
    if passage is not None and rules.thanks:
        hits = [hit for hit in hits if not polite(hit, passage, rules)]
    scores, words = _tally(hits)
    marks = min(text.count("?"), MAX_QUESTION_MARKS)
    if marks:
        scores["consultation"] = (
            scores.get("consultation", 0.0) + marks * rules.question_mark_weight
        )
        words.setdefault("consultation", []).append("?" * marks)
    opening = _opening(text, rules)
    if opening is not None and opening[0] == PRAISE and passage is not None:
        start, end = passage.sentence(0)
        if any_in(rules.politeness, text[start:end]):
            opening = None
    if opening is not None:
        label, word = opening
        scores[label] = scores.get(label, 0.0) + rules.opening_weight
        words.setdefault(label, []).append(f"^{word}")
    if category is not None and category.default_type:
        prior = category.default_type
        scores[prior] = scores.get(prior, 0.0) + rules.category_prior_weight
        words.setdefault(prior, []).append(f"<{category.code}>")
    ranked = _ranked(scores, list(rules.keywords))
    if not ranked:
        return Classification(rules.default_type, 0.0, 0.0, source="default")
    (label, top), second = ranked[0], (ranked[1] if len(ranked) > 1 else (None, 0.0))
    return Classification(
        label=label,
        confidence=confidence(top, second[1], TYPE_FULL_STRENGTH),
        score=top,
        matched=tuple(words[label]),
        runner_up=second[0],
    )
