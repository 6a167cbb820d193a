"""The triage engine: one `Triage` built at start-up, `assess()` called for every request.

Order matters and is fixed: guards first (an emergency must never wait on classification),
then category, then request type (which uses the category's usual type as a prior), then the
knowledge base for consultations, then routing by category and place. Every step appends a
`Decision` so the ticket's history says what was decided and why.

Decisions that act alone (a direct answer that closes the ticket, 不予受理, the emergency
redirect) are precision first: the guards and the knowledge base read their words in their
sentence (`Passage`), and whatever is not sure enough to act is left to the agent as a
suggestion (`suggested_answers`, `out_of_scope_suggestion`).
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
from intake.triage.kb import KB, KbCandidate, KnowledgeBase
from intake.triage.learned import decide
from intake.triage.learned.emergency import load_emergency_model
from intake.triage.learned.source import ModelSource
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
from intake.triage.passage import Passage
from intake.triage.text import Hit, Matcher, Segmenter, normalise

URGENT = "urgent"
LEARNED = "learned"  # the rule id of an emergency found by the learned model
SUGGESTING_TYPES = frozenset({"consultation", "help"})
KEY_TERM_WEIGHT = 2.0  # weaker category words ("施工", "饭店") do not name a problem


class Triage:
    """Pure, synchronous, thread-safe after construction (no state changes in `assess`)."""

    def __init__(self, catalogue: Catalogue, learned: ModelSource | None = None) -> None:
        self.catalogue = catalogue
        self.learned = learned  # the learned category model, when one is used
        categories = catalogue.categories
        self._codes = frozenset(
            [*(c.code for c in categories.categories), categories.fallback.code]
        )
        self.segmenter = Segmenter.get(catalogue.paths.custom_dict)
        self.kb = KnowledgeBase(
            catalogue.kb_entries, catalogue.kb_rules, self.segmenter, catalogue.cues.generic
        )
        self._cues = catalogue.cues
        self.emergency_model = load_emergency_model(catalogue.paths.emergency_model)
        self._matcher = Matcher()
        guards.register(self._matcher, catalogue.emergency, guards.EMERGENCY)
        guards.register(self._matcher, catalogue.out_of_scope, guards.OUT_OF_SCOPE)
        classify.register(self._matcher, catalogue.types, catalogue.categories)
        self.kb.register(self._matcher)
        places.register(self._matcher, catalogue.districts)
        self._matcher.add_all((URGENT,), catalogue.categories.urgency_keywords)
        # the pipeline asks about one text twice (assess, then key_terms for duplicates)
        self._find = lru_cache(maxsize=1024)(self._find_hits)

    def _find_hits(self, normalised: str) -> tuple[Hit, ...]:
        return tuple(self._matcher.find(normalised))

    @classmethod
    def load(
        cls,
        paths: CataloguePaths | None = None,
        *,
        learned: ModelSource | None = None,
        **overrides: Path | str | None,
    ) -> Triage:
        """Load the shipped catalogues, with any file replaced by keyword (e.g. kb="my_kb.yaml");
        the keyword rules alone unless a learned model source is given."""
        paths = (paths or CataloguePaths()).with_overrides(**overrides)
        return cls(load_catalogue(paths), learned)

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
        passage = Passage(normalised, self._cues)
        trail: list[Decision] = []
        emergency = self._emergency(passage, hits, trail)
        out_of_scope, maybe_out_of_scope = self._out_of_scope(passage, hits, trail)
        category = classify.classify_category(hits.get(classify.CATEGORY, ()), self._categories)
        model = self.learned.current() if self.learned is not None else None
        prediction = model.predict(normalised, normalised=True) if model is not None else None
        category = decide.choose_category(category, prediction, self._codes)
        trail.append(_classification_decision("category", category))
        confident_category = self._confident_category(category)
        request_type = self._request_type(hits, passage, confident_category, request_type_hint)
        request_type = decide.choose_type(request_type, prediction)
        trail.append(_classification_decision("request_type", request_type))
        kb_answer, suggested = None, ()
        if (
            request_type.label in SUGGESTING_TYPES
            and emergency is None
            and out_of_scope is None
            and KB in hits
        ):
            kb_answer, suggested = self._kb_answer(
                hits[KB], passage, request_type, confident_category, trail
            )
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
        if reason is None and maybe_out_of_scope is not None:
            reason = f"possibly out of scope ({maybe_out_of_scope.rule_id}): an agent decides"
        if reason is None and suggested:
            reason = "knowledge-base answers suggested: an agent replies"
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
            suggested_answers=suggested,
            out_of_scope_suggestion=maybe_out_of_scope,
            model_version=prediction.version if prediction is not None else None,
        )

    def emergency(self, text: str) -> EmergencyHit | None:
        """The emergency guard alone, exactly as `assess` runs it: what the core checks the
        moment a message is accepted (`intake.triage.alarm`)."""
        normalised = normalise(text)
        found = [hit for hit in self._find(normalised) if hit.key[0] == guards.EMERGENCY]
        if not found and self.emergency_model is None:
            return None
        return self._emergency(Passage(normalised, self._cues), {guards.EMERGENCY: found}, [])

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

    def _emergency(
        self, passage: Passage, hits: dict[str, list[Hit]], trail: list[Decision]
    ) -> EmergencyHit | None:
        found = hits.get(guards.EMERGENCY) or []
        if not found:
            return self._learned_emergency(passage, found, trail)
        judge = guards.emergency_judge(passage, self.segmenter, self._cues)
        finding, aside = guards.review(self.catalogue.emergency, found, passage.text, judge)
        detail = "; ".join(aside) or None
        if finding is None:
            words = tuple(dict.fromkeys(h.keyword for h in found))
            trail.append(Decision("emergency", "set-aside", None, words, detail=detail))
            if not guards.context_vetoed(aside):  # the model never overrules the context
                return self._learned_emergency(passage, found, trail)
            return None
        rule, matched = finding.rule, finding.matched
        outcome = f"redirect:{rule.service}"
        trail.append(Decision("emergency", outcome, rule.id, matched, None, detail))
        return EmergencyHit(rule.id, rule.service, rule.name, matched, rule.reply)

    def _learned_emergency(
        self, passage: Passage, found: Sequence[Hit], trail: list[Decision]
    ) -> EmergencyHit | None:
        """The learned model, where no keyword stands and the message reads as an alarm. The
        number is that of the first rule whose words the message holds (set aside, yet they say
        what the danger is), else the model's."""
        model = self.emergency_model
        if model is None:
            return None
        # the cheaper test first: a letter seldom reads as an alarm, a short message seldom
        # scores as an emergency
        letter = passage.shape.is_letter
        if letter and not guards.learned_may_act(passage, self.segmenter, self._cues):
            return None
        read = model.read(passage.text)
        if read.probability < model.threshold:
            return None
        if not letter and not guards.learned_may_act(passage, self.segmenter, self._cues):
            return None
        rules = self.catalogue.emergency
        named = [rules[index] for index in sorted({hit.key[1] for hit in found})]
        service = named[0].service if named else read.service
        rule = next((r for r in rules if r.service == service), None)
        if rule is None:  # an operator's catalogue without this number gives no advice
            return None
        detail = f"probability {read.probability:.2f}, model {model.version}"
        outcome = f"redirect:{service}"
        trail.append(Decision("emergency", outcome, LEARNED, read.words, None, detail))
        return EmergencyHit(LEARNED, rule.service, rule.name, read.words, rule.reply)

    def _out_of_scope(
        self, passage: Passage, hits: dict[str, list[Hit]], trail: list[Decision]
    ) -> tuple[OutOfScopeHit | None, OutOfScopeHit | None]:
        """(out of scope, acting alone) or (None, a suggestion for the agent) or neither."""
        found = hits.get(guards.OUT_OF_SCOPE)
        if not found:
            return None, None
        judge = guards.out_of_scope_judge(passage, self._cues)
        findings, aside = guards.review_all(self.catalogue.out_of_scope, found, passage.text, judge)
        detail = "; ".join(aside) or None
        if not findings:
            words = tuple(dict.fromkeys(h.keyword for h in found))
            trail.append(Decision("out_of_scope", "passing-mention", None, words, detail=detail))
            return None, None
        for finding in findings:
            if guards.is_main_request(finding, passage, self._cues):
                rule = finding.rule
                hit = OutOfScopeHit(rule.id, rule.name, finding.matched, rule.reply)
                trail.append(Decision("out_of_scope", "not-accepted", rule.id, finding.matched))
                return hit, None
        finding = findings[0]
        rule = finding.rule
        hit = OutOfScopeHit(rule.id, rule.name, finding.matched, rule.reply)
        why = f"not the letter's main request; {detail}" if detail else "not the main request"
        trail.append(Decision("out_of_scope", "suggested", rule.id, finding.matched, None, why))
        return None, hit

    def _confident_category(self, category: Classification) -> Category | None:
        rules = self._categories
        if category.source == decide.MODEL:  # sure by the model's own threshold
            return rules.get(category.label)
        if category.source in ("fallback", decide.UNSURE) or category.score < rules.min_score:
            return None
        if category.confidence < rules.min_confidence:
            return None
        return rules.get(category.label)

    def _request_type(
        self,
        hits: dict[str, list[Hit]],
        passage: Passage,
        category: Category | None,
        hint: str | None,
    ) -> Classification:
        if hint is not None and hint in REQUEST_TYPES:
            return Classification(hint, 1.0, 0.0, source="hint")
        rules = self.catalogue.types
        type_hits = hits.get(classify.TYPE, ())
        return classify.classify_type(type_hits, passage.text, rules, category, passage)

    def _kb_answer(
        self,
        hits: Sequence[Hit],
        passage: Passage,
        request_type: Classification,
        category: Category | None,
        trail: list[Decision],
    ) -> tuple[KbAnswer | None, tuple[KbAnswer, ...]]:
        """(the direct answer, or None) and the answers suggested to the agent otherwise. An
        answer filed under another category than the one the message is surely about answers
        a word of its story, not its question (大病医疗救助 asked by a "农村户口" family is not
        the hukou entry's question)."""
        may_close = request_type.label == "consultation" and not passage.shape.is_letter
        ranked = self.kb.rank(hits, passage, similar=may_close and bool(passage.question_sentences))
        if not ranked:
            return None, ()
        best: KbCandidate = ranked[0]
        why_not = self.kb.why_not_close(ranked, passage)
        if why_not is None and request_type.label != "consultation":
            why_not = f"a {request_type.label}, not a question"
        if why_not is None and request_type.source == decide.MODEL and request_type.runner_up:
            why_not = f"a question to the model, a {request_type.runner_up} to the rules"
        entry_category = best.entry.category
        if why_not is None and category is not None and entry_category not in (None, category.code):
            why_not = f"the entry answers {entry_category}, the message is about {category.code}"
        if why_not is None:
            trail.append(Decision("kb", "direct-answer", best.entry.id, best.matched, best.score))
            return best.as_answer(), ()
        suggested = self.kb.suggestions(ranked)
        outcome = "suggested" if suggested else "below-threshold"
        trail.append(Decision("kb", outcome, best.entry.id, best.matched, best.score, why_not))
        return None, suggested

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
        if request_type.source not in ("hint", decide.MODEL) and (
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
