"""Emergency and out-of-scope guards: they run first and never depend on classification.

A guard rule fires when one of its keywords is in the text and none of its `unless` words is,
so "楼道里有火灾隐患" (a hazard to report) does not send the citizen to 119 while "厨房着火了"
does. The first firing rule in file order wins, so operators order rules by severity.
"""

from __future__ import annotations

from collections.abc import Sequence

from intake.triage.catalogue import GuardRule
from intake.triage.text import Hit, Matcher

EMERGENCY = "emergency"
EMERGENCY_UNLESS = "emergency-unless"
OUT_OF_SCOPE = "out-of-scope"
OUT_OF_SCOPE_UNLESS = "out-of-scope-unless"


def register(matcher: Matcher, rules: Sequence[GuardRule], namespace: str, unless: str) -> None:
    """Add the guard keywords to the shared matcher under (namespace, rule index)."""
    for index, rule in enumerate(rules):
        matcher.add_all((namespace, index), rule.keywords)
        matcher.add_all((unless, index), rule.unless)


def first_firing(
    rules: Sequence[GuardRule], hits: Sequence[Hit], unless_hits: Sequence[Hit]
) -> tuple[GuardRule, tuple[str, ...]] | None:
    """The first rule (in file order) with a keyword hit and no `unless` hit, with its words."""
    matched: dict[int, list[str]] = {}
    for hit in hits:
        matched.setdefault(hit.key[1], []).append(hit.keyword)
    if not matched:
        return None
    vetoed = {hit.key[1] for hit in unless_hits}
    for index in sorted(matched):
        if index not in vetoed:
            return rules[index], tuple(matched[index])
    return None
