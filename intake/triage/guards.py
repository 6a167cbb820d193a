"""Emergency and out-of-scope guards: they run first and never depend on classification.

The matcher finds a rule's keywords as substrings; each occurrence is then read in its
sentence. It is set aside when one of the rule's `unless` words is in the same sentence
("楼道里有火灾隐患" is a hazard to report, not a fire), and otherwise:

- emergency: when it is not a jieba word of its clause ("有没有意识到" holds no "没有意识") or
  does not report danger happening now (negated, quoted, a comparison, a hypothetical, the
  past, a habit: see `context.not_now`);
- out of scope: when it is only mentioned in passing (`context.passing`).

The first rule in file order with an occurrence left standing wins, so operators order rules by
severity. An out-of-scope finding acts alone (不予受理) only when it is the message's main
request: the whole of a short message, or in a letter a request in its own words backed by a
second sentence; otherwise it is a suggestion for the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from intake.triage import context
from intake.triage.catalogue import GuardRule
from intake.triage.cues import Cues
from intake.triage.passage import Passage
from intake.triage.text import Hit, Matcher, Segmenter

EMERGENCY = "emergency"
OUT_OF_SCOPE = "out-of-scope"
MAIN_REQUEST_SENTENCES = 2

# (rule, keyword, start) → why this occurrence does not count, or None when it stands
Judge = Callable[[GuardRule, str, int], str | None]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: GuardRule
    matched: tuple[str, ...]  # keywords with an occurrence left standing
    positions: tuple[int, ...]
    set_aside: tuple[str, ...] = ()  # "keyword: reason" of the others, for the trail
    main: bool = True


def register(matcher: Matcher, rules: Sequence[GuardRule], namespace: str) -> None:
    """Add the guard keywords to the shared matcher under (namespace, rule index)."""
    for index, rule in enumerate(rules):
        matcher.add_all((namespace, index), rule.keywords)


def review(
    rules: Sequence[GuardRule], hits: Sequence[Hit], text: str, judge: Judge
) -> tuple[Finding | None, tuple[str, ...]]:
    """The first rule (in file order) with a standing occurrence, and every reason given for
    setting occurrences aside (so the trail says why a keyword did not fire)."""
    by_rule: dict[int, list[Hit]] = {}
    for hit in hits:
        by_rule.setdefault(hit.key[1], []).append(hit)
    aside: list[str] = []
    for index in sorted(by_rule):
        rule, matched, positions = rules[index], [], []
        for hit in by_rule[index]:
            for start in _occurrences(text, hit.keyword, hit.start):
                reason = judge(rule, hit.keyword, start)
                if reason is None:
                    matched.append(hit.keyword)
                    positions.append(start)
                    break
                aside.append(f"{hit.keyword}: {reason}")
        if matched:
            return Finding(rule, tuple(matched), tuple(positions), tuple(aside)), tuple(aside)
    return None, tuple(aside)


def emergency_judge(passage: Passage, segmenter: Segmenter, cues: Cues) -> Judge:
    def judge(rule: GuardRule, keyword: str, start: int) -> str | None:
        vetoed = _unless(passage, rule, start)
        if vetoed:
            return vetoed
        clause_start, clause_end = passage.clause(start)
        bounds = segmenter.boundaries(passage.text[clause_start:clause_end])
        if start - clause_start not in bounds or start + len(keyword) - clause_start not in bounds:
            return "not a word here"
        return context.not_now(passage, start, start + len(keyword), cues)

    return judge


def out_of_scope_judge(passage: Passage, cues: Cues) -> Judge:
    letter = passage.shape.is_letter

    def judge(rule: GuardRule, keyword: str, start: int) -> str | None:
        return _unless(passage, rule, start) or context.passing(
            passage, start, start + len(keyword), cues, letter=letter
        )

    return judge


def is_main_request(finding: Finding, passage: Passage, cues: Cues) -> bool:
    """A short message is its own main request; a letter needs the matter asked for in so many
    words ("恳请督促法院执行判决") and named in a second sentence."""
    if not passage.shape.is_letter:
        return True
    text = passage.text
    sentences = set()
    for rule_word in finding.rule.keywords:
        position = text.find(rule_word)
        while position >= 0:
            sentences.add(passage.sentence(position))
            position = text.find(rule_word, position + 1)
    asked = any(context.asks(passage, position, cues) for position in finding.positions)
    return asked and len(sentences) >= MAIN_REQUEST_SENTENCES


def _unless(passage: Passage, rule: GuardRule, start: int) -> str | None:
    sentence_start, sentence_end = passage.sentence(start)
    sentence = passage.text[sentence_start:sentence_end]
    word = next((w for w in rule.unless if w in sentence), None)
    return f"unless {word}" if word else None


def _occurrences(text: str, keyword: str, first: int) -> Iterator[int]:
    position = first
    while position >= 0:
        yield position
        position = text.find(keyword, position + 1)
