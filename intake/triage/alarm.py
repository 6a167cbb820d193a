"""The emergency check of the accept path: cheap for the many messages that are not one.

The gateway asks it about every message before making the message durable, so the first
answer on any channel can carry the advice (`intake.domain.emergency_advice`). Most messages hold
no emergency keyword at all; one Aho-Corasick pass over the raw text (whitespace dropped, as
`text.normalise` drops it) says so without normalising the text, which costs several times as
much. With the keyword lists alone, only a message holding a keyword goes through the triage
engine's own emergency guard (`Triage.emergency`); with the learned emergency model, which
reads danger in words no list holds, every message does. Either way the answer is always the
one triage gives.
"""

from __future__ import annotations

import re

from ahocorasick_rs import AhoCorasick

from intake.domain.emergency_advice import EmergencyAdvice
from intake.triage import guards
from intake.triage.engine import Triage
from intake.triage.kit import TriageKit
from intake.triage.models import EmergencyHit
from intake.triage.text import Matcher, RuleKey, normalise

# Characters that NFKC folds into CJK ideographs (radicals, compatibility and enclosed
# ideographs): a text holding one is normalised before the pre-check.
_FOLDS_INTO_HAN = re.compile(
    "[\u2e80-\u2fff\u3200-\u33ff\uf900-\ufaff\U0001f200-\U0001f2ff\U0002f800-\U0002fa1f]"
)
_PLAIN_HAN = re.compile("[\u4e00-\u9fff]+")


class Alarm:
    """`check(text)`: the advice for an emergency happening now, or None."""

    def __init__(self, triage: Triage) -> None:
        self._triage = triage
        registered = _Keywords()  # whatever the guard registers, as the engine's matcher has it
        guards.register(registered, triage.catalogue.emergency, guards.EMERGENCY)
        keywords = sorted(registered.words)
        # the raw text stands for the normalised one only with keywords NFKC leaves alone
        # (plain CJK ideographs); with any other keyword every text is normalised first
        self._raw_ok = all(_PLAIN_HAN.fullmatch(k) for k in keywords)
        self._keywords = AhoCorasick(keywords) if keywords else None

    def may_match(self, text: str) -> bool:
        """False when the text surely holds no emergency keyword (then `check` is None)."""
        if self._keywords is None or not text:
            return False
        if self._raw_ok and not _FOLDS_INTO_HAN.search(text):
            text = "".join(text.split())
        else:
            text = normalise(text)
        return bool(self._keywords.find_matches_as_indexes(text, overlapping=False))

    def check(self, text: str) -> EmergencyAdvice | None:
        if self._triage.emergency_model is None and not self.may_match(text):
            return None
        hit = self._triage.emergency(text)
        return advice_of(hit) if hit is not None else None


class _Keywords(Matcher):
    """Collects the keywords registered with it (normalised, as `Matcher.add` keeps them)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: set[str] = set()

    def add(self, key: RuleKey, keyword: str, weight: float = 1.0) -> None:
        if word := normalise(keyword):
            self.words.add(word)


def advice_of(hit: EmergencyHit) -> EmergencyAdvice:
    """The advice for the citizen from the guard's finding (its rule's number and words)."""
    return EmergencyAdvice(
        number=hit.service, service=hit.service_name, advice=hit.reply, rule_id=hit.rule_id
    )


def alarm_for(kit: TriageKit | None) -> Alarm | None:
    """The alarm of a runtime's triage kit; None when triage is disabled."""
    return Alarm(kit.triage) if kit is not None else None
