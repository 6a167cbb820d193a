"""The triage engine: one `Triage` built at start-up, `assess()` called for every request.

Order matters and is fixed: guards first (an emergency must never wait on classification),
then category, then request type (which uses the category's usual type as a prior), then the
knowledge base for consultations, then routing by category and place. Every step appends a
`Decision` so the ticket's history says what was decided and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from intake.triage import classify, guards, places
from intake.triage.catalogue import (
    Catalogue,
    CataloguePaths,
    Category,
    CategoryCatalogue,
    load_catalogue,
)
from intake.triage.kb import KB, KnowledgeBase
from intake.triage.models import (
    REQUEST_TYPES,
    Classification,
    Decision,
    EmergencyHit,
    KbAnswer,
    OutOfScopeHit,
    Routing,
    TriageDecision,
)
from intake.triage.text import Hit, Matcher, Segmenter, normalise

URGENT = "urgent"
KEY_TERM_WEIGHT = 2.0  # weaker category words ("施工", "饭店") do not name a problem


class Triage:
    """Pure, synchronous, thread-safe after construction (no state changes in `assess`)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.segmenter = Segmenter.get(catalogue.paths.custom_dict)
        self.kb = KnowledgeBase(catalogue.kb_entries, catalogue.kb_threshold, self.segmenter)
        self._matcher = Matcher()
        guards.register(
            self._matcher, catalogue.emergency, guards.EMERGENCY, guards.EMERGENCY_UNLESS
        )
        guards.register(
            self._matcher, catalogue.out_of_scope, guards.OUT_OF_SCOPE, guards.OUT_OF_SCOPE_UNLESS
        )
        classify.register(self._matcher, catalogue.types, catalogue.categories)
        self.kb.register(self._matcher)
        places.register(self._matcher, catalogue.districts)
        self._matcher.add_all((URGENT,), catalogue.categories.urgency_keywords)
        # the pipeline asks about one text twice (assess, then key_terms for duplicates)
        self._find = lru_cache(maxsize=1024)(self._find_hits)

    def _find_hits(self, normalised: str) -> tuple[Hit, ...]:
        return tuple(self._matcher.find(normalised))

    @classmethod
    def load(cls, paths: CataloguePaths | None = None, **overrides: Path | str | None) -> Triage:
        """Load the shipped catalogues, with any file replaced by keyword (e.g. kb="my_kb.yaml")."""
        return cls(load_catalogue((paths or CataloguePaths()).with_overrides(**overrides)))

    def assess(
        self,
        text: str,
        *,
        location_label: str | None = None,
        request_type_hint: str | None = None,
    ) -> TriageDecision:
        """Triage one request. Never raises on content; an empty text goes to a human."""
        normalised = normalise(text)
        hits = _by_namespace(self._find(normalised))
        trail: list[Decision] = []
        emergency = self._emergency(hits, trail)
        out_of_scope = self._out_of_scope(hits, trail)
        category = classify.classify_category(hits.get(classify.CATEGORY, ()), self._categories)
        trail.append(_classification_decision("category", category))
        confident_category = self._confident_category(category)
        request_type = self._request_type(hits, normalised, confident_category, request_type_hint)
        trail.append(_classification_decision("request_type", request_type))
        kb_answer = None
        if request_type.label == "consultation" and emergency is None and out_of_scope is None:
            kb_answer = self._kb_answer(hits.get(KB, ()), normalised, trail)
        routing = self._routing(confident_category, hits.get(places.PLACE, ()), location_label)
        trail.append(_routing_decision(routing))
        urgent_words = tuple(h.keyword for h in hits.get(URGENT, ()))
        urgent = emergency is not None or bool(urgent_words)
        if urgent:
            rule = emergency.rule_id if emergency else "urgency-keywords"
            trail.append(
                Decision("urgent", "urgent", rule, emergency.matched if emergency else urgent_words)
            )
        reason = self._human_reason(emergency, out_of_scope, kb_answer, request_type, category)
        if reason:
            trail.append(Decision("needs_human", "human-triage", detail=reason))
        return TriageDecision(
            request_type=request_type,
            category=category,
            routing=routing,
            emergency=emergency,
            out_of_scope=out_of_scope,
            kb_answer=kb_answer,
            needs_human=reason is not None,
            human_reason=reason,
            urgent=urgent,
            decisions=tuple(trail),
        )

    def key_terms(self, normalised: str) -> frozenset[str]:
        """Words naming the problem and the place (category keywords of weight ≥ 2, streets and
        places of the gazetteer): what two reports of one problem share, to find duplicates.
        District names are left out: every candidate compared is in the same district."""
        return frozenset(
            hit.keyword
            for hit in self._find(normalised)
            if (hit.key[0] == classify.CATEGORY and hit.weight >= KEY_TERM_WEIGHT)
            or (hit.key[0] == places.PLACE and hit.key[2] != "district")
        )

    def is_confident(self, category: Classification) -> bool:
        """True when the category is sure enough to route, and to look for duplicates by."""
        return self._confident_category(category) is not None

    @property
    def _categories(self) -> CategoryCatalogue:
        return self.catalogue.categories

    def _emergency(self, hits: dict[str, list[Hit]], trail: list[Decision]) -> EmergencyHit | None:
        fired = guards.first_firing(
            self.catalogue.emergency,
            hits.get(guards.EMERGENCY, ()),
            hits.get(guards.EMERGENCY_UNLESS, ()),
        )
        if fired is None:
            return None
        rule, matched = fired
        trail.append(Decision("emergency", f"redirect:{rule.service}", rule.id, matched))
        return EmergencyHit(rule.id, rule.service, rule.name, matched, rule.reply)

    def _out_of_scope(
        self, hits: dict[str, list[Hit]], trail: list[Decision]
    ) -> OutOfScopeHit | None:
        fired = guards.first_firing(
            self.catalogue.out_of_scope,
            hits.get(guards.OUT_OF_SCOPE, ()),
            hits.get(guards.OUT_OF_SCOPE_UNLESS, ()),
        )
        if fired is None:
            return None
        rule, matched = fired
        trail.append(Decision("out_of_scope", "not-accepted", rule.id, matched))
        return OutOfScopeHit(rule.id, rule.name, matched, rule.reply)

    def _confident_category(self, category: Classification) -> Category | None:
        rules = self._categories
        if category.source == "fallback" or category.score < rules.min_score:
            return None
        if category.confidence < rules.min_confidence:
            return None
        return rules.get(category.label)

    def _request_type(
        self,
        hits: dict[str, list[Hit]],
        normalised: str,
        category: Category | None,
        hint: str | None,
    ) -> Classification:
        if hint is not None and hint in REQUEST_TYPES:
            return Classification(hint, 1.0, 0.0, source="hint")
        rules = self.catalogue.types
        return classify.classify_type(hits.get(classify.TYPE, ()), normalised, rules, category)

    def _kb_answer(
        self, hits: Sequence[Hit], normalised: str, trail: list[Decision]
    ) -> KbAnswer | None:
        candidate = self.kb.best(hits, normalised)
        if candidate is None:
            return None
        answer = self.kb.answer(candidate)
        outcome = "direct-answer" if answer else "below-threshold"
        trail.append(
            Decision("kb", outcome, candidate.entry.id, candidate.matched, candidate.score)
        )
        return answer

    def _routing(
        self, category: Category | None, text_hits: Sequence[Hit], label: str | None
    ) -> Routing:
        source = "text"
        place = places.locate(text_hits, self.catalogue.districts)
        if place is None and label:
            source = "location_label"
            label_hits = _by_namespace(self._find(normalise(label))).get(places.PLACE, ())
            place = places.locate(label_hits, self.catalogue.districts)
        target = category or self._categories.fallback
        if place is None:
            return Routing(target.department, target.co_departments)
        district = place.district
        return Routing(
            primary=target.department,
            co_handlers=target.co_departments,
            district=district.code,
            district_name=district.name,
            street=place.street,
            local_office=district.office,
            place_source=source,
        )

    def _human_reason(
        self,
        emergency: EmergencyHit | None,
        out_of_scope: OutOfScopeHit | None,
        kb_answer: KbAnswer | None,
        request_type: Classification,
        category: Classification,
    ) -> str | None:
        """Why an agent must look at this request, or None when automation may proceed."""
        if emergency is not None:
            return f"emergency ({emergency.rule_id}): an agent follows up at once"
        if out_of_scope is not None or kb_answer is not None:
            return None
        types = self.catalogue.types
        if request_type.source != "hint" and (
            request_type.score < types.min_score or request_type.confidence < types.min_confidence
        ):
            return f"request type uncertain ({request_type.label} {request_type.confidence:.2f})"
        if self._confident_category(category) is None:
            return f"category uncertain ({category.label} {category.confidence:.2f})"
        return None


def _by_namespace(hits: Sequence[Hit]) -> dict[str, list[Hit]]:
    grouped: dict[str, list[Hit]] = {}
    for hit in hits:
        grouped.setdefault(hit.key[0], []).append(hit)
    return grouped


def _classification_decision(step: str, result: Classification) -> Decision:
    detail = f"runner-up: {result.runner_up}" if result.runner_up else None
    outcome = f"{result.label} ({result.source}, confidence {result.confidence:.2f})"
    return Decision(step, outcome, f"{step}:{result.label}", result.matched, result.score, detail)


def _routing_decision(routing: Routing) -> Decision:
    where = f" @ {routing.district}" if routing.district else ""
    detail = f"place from {routing.place_source}" if routing.place_source else "no place found"
    return Decision("routing", f"{routing.primary}{where}", "routing", (), None, detail)
