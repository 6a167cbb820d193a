"""Emergency and out-of-scope guards: they run first and never depend on classification.

The matcher finds a rule's keywords as substrings; each occurrence is then read in its
sentence. It is set aside when one of the rule's `unless` words is in the same sentence
("楼道里有火灾隐患" is a hazard to report, not a fire), and otherwise:

- emergency: when it does not end where a jieba word of its clause ends ("有没有意识到" holds no
  "没有意识") or
  does not report danger happening now (negated, quoted, a comparison, a hypothetical, the
  past, a habit: see `context.not_now`);
- out of scope: when it is only mentioned in passing (`context.passing`).

The first rule in file order with an occurrence left standing wins, so operators order rules by
severity. An out-of-scope finding acts alone (不予受理) only when it is the message's main
request: the whole of a short message, or in a letter a request for what the hotline cannot do
(`is_main_request`); otherwise it is a suggestion for the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from intake.triage import context
from intake.triage.catalogue import GuardRule
from intake.triage.cues import Cues, any_in
from intake.triage.passage import Passage
from intake.triage.text import Hit, Matcher, Segmenter

EMERGENCY = "emergency"
OUT_OF_SCOPE = "out-of-scope"
# reasons an emergency keyword is set aside that say nothing against the learned model
NOT_NOW = "not said to be happening now"
NOT_A_WORD = "not a word here"
ROUTINE = "asks for routine handling, with no call for help"

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
        matcher.add_all((namespace, index), rule.now_keywords)


def review(
    rules: Sequence[GuardRule], hits: Sequence[Hit], text: str, judge: Judge
) -> tuple[Finding | None, tuple[str, ...]]:
    """The first rule (in file order) with a standing occurrence, and every reason given for
    setting occurrences aside (so the trail says why a keyword did not fire)."""
    findings, aside = review_all(rules, hits, text, judge)
    return (findings[0] if findings else None), aside


def review_all(
    rules: Sequence[GuardRule], hits: Sequence[Hit], text: str, judge: Judge
) -> tuple[list[Finding], tuple[str, ...]]:
    """Every rule with a standing occurrence, in file order, and the reasons for the others."""
    by_rule: dict[int, list[Hit]] = {}
    for hit in hits:
        by_rule.setdefault(hit.key[1], []).append(hit)
    aside: list[str] = []
    findings: list[Finding] = []
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
            findings.append(Finding(rule, tuple(matched), tuple(positions)))
    return findings, tuple(aside)


def emergency_judge(passage: Passage, segmenter: Segmenter, cues: Cues) -> Judge:
    """A keyword stands when it is a word of its clause and reports danger now, and the
    message does not say it is over ("幸好没人受伤"). A short message tells what is happening
    as it writes; but when it asks about procedures or money ("能报销吗", "谁赔") or for a
    repair ("请供电所来人"), a `now_keywords` word needs a call for help in it. A letter, which
    tells of past accidents and illnesses, needs a now word near the keyword or a call for
    help, and a call for help when it asks about procedures or money."""
    letter = passage.shape.is_letter
    memo: dict[str, bool] = {}  # computed on first need

    def once(name: str, compute: Callable[[], bool]) -> bool:
        if name not in memo:
            memo[name] = compute()
        return memo[name]

    def alarm() -> bool:
        return once("alarm", lambda: _calls_for_help(passage, segmenter, cues))

    def about_event() -> bool:
        return once("event", lambda: context.asks_about_event(passage, cues))

    def judge(rule: GuardRule, keyword: str, start: int) -> str | None:
        vetoed = _unless(passage, rule, start)
        if vetoed:
            return vetoed
        end = start + len(keyword)
        if not _ends_a_word(passage, segmenter, cues, end):
            return NOT_A_WORD
        reason = context.not_now(passage, start, end, cues) or context.over(passage, start, cues)
        if reason is not None:
            return reason
        if not letter:
            if keyword not in rule.now_keywords or alarm():
                return None
            if about_event() or once("repair", lambda: context.asks_for_repair(passage, cues)):
                return ROUTINE
            return None
        if alarm():
            return None
        if about_event():
            return ROUTINE
        return None if context.said_now(passage, start, cues) else NOT_NOW

    return judge


def _ends_a_word(passage: Passage, segmenter: Segmenter, cues: Cues, end: int) -> bool:
    """The keyword ends where a word of its clause ends ("没有意识" in "有没有意识到" does not,
    nor "跳楼" in "跳楼价"), or before a verb's complement jieba glues to it ("抢走了",
    "倒下来", "撞上去", "打破"). It may start inside a word (jieba cuts "被车撞倒" as 被车撞|倒)."""
    clause_start, clause_end = passage.clause(end - 1)
    bounds = segmenter.boundaries(passage.text[clause_start:clause_end])
    if end - clause_start in bounds:
        return True
    return any(passage.text.startswith(word, end) for word in cues.complement)


def context_vetoed(aside: Sequence[str]) -> bool:
    """True when a keyword was set aside for what its context says (past, supposed, negated,
    compared, quoted, over, an `unless` word…), not merely for lacking a now word or a word
    boundary: then the message is about that danger, and not as an emergency."""
    return any(entry.split(": ", 1)[-1] not in (NOT_NOW, NOT_A_WORD) for entry in aside)


def learned_may_act(passage: Passage, segmenter: Segmenter, cues: Cues) -> bool:
    """Where no keyword stands, the learned model may still find an emergency, but only in a
    message that reads as an alarm: it asks nothing about procedures or money and does not say
    the danger is over; a short one asks for no repair, a letter says it is happening now or
    calls for help."""
    if context.asks_about_event(passage, cues) or context.over(passage, 0, cues):
        return False
    if not passage.shape.is_letter:
        return not context.asks_for_repair(passage, cues)
    text = passage.text
    return any_in(cues.now, text) or _calls_for_help(passage, segmenter, cues)


def _calls_for_help(passage: Passage, segmenter: Segmenter, cues: Cues) -> bool:
    """The message calls for help now: an alarm word that is a word of its clause ("救命", not
    "救命钱") and not past, hypothetical, negated or quoted ("那天我们赶紧叫救护车")."""
    text = passage.text
    for word in cues.alarm:
        position = text.find(word)
        while position >= 0:
            end = position + len(word)
            clause_start, clause_end = passage.clause(position)
            bounds = segmenter.boundaries(text[clause_start:clause_end])
            first = min((b for b in bounds if b > position - clause_start), default=0)
            if (
                position - clause_start in bounds
                and first <= end - clause_start  # "马上派|人" is one, "救命钱" is not
                and context.not_now(passage, position, end, cues) is None
            ):
                return True
            position = text.find(word, position + 1)
    return False


def out_of_scope_judge(passage: Passage, cues: Cues) -> Judge:
    """A mention stands unless refused, threatened, compared or supposed: in a letter a past
    occurrence stands too ("去年我把他起诉到法院" is the case the letter is about); whether the
    matter is the letter's main request is `is_main_request`'s question."""

    def judge(rule: GuardRule, keyword: str, start: int) -> str | None:
        return _unless(passage, rule, start) or context.passing(
            passage, start, start + len(keyword), cues, letter=False
        )

    return judge


def is_main_request(finding: Finding, passage: Passage, cues: Cues) -> bool:
    """A short message is its own main request. A letter must ask, in so many words, for what
    the hotline cannot do: one of the rule's `main_request` phrases ("督促法院", "改判",
    "纪委监委调查") after an asking word in its sentence ("请市里领导过问，责成法院改判") or in
    a question clause, and not as a document shown as proof ("凭生效的判决书…")."""
    if not passage.shape.is_letter:
        return True
    text = passage.text
    for phrase in finding.rule.main_request:
        position = text.find(phrase)
        while position >= 0:
            if context.asks_for(passage, position, position + len(phrase), cues):
                return True
            position = text.find(phrase, position + 1)
    return False


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
