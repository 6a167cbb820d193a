"""Knowledge-base retrieval for direct answers (直接答复, issue 7 item 3).

An entry's keyword groups say what the question must be about (e.g. {社保卡} and {补办, 丢,
挂失}); the share of groups found is the main score, so an answer is only offered when every
aspect of the entry is present. The jieba-token similarity to the entry's example questions adds
a smaller part and ranks entries that match equally well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from intake.triage.catalogue import KbEntry
from intake.triage.models import KbAnswer
from intake.triage.similarity import STOPWORDS, Fingerprint, similarity
from intake.triage.text import Hit, Matcher, Segmenter, char_ngrams, normalise

KB = "kb"
GROUP_WEIGHT = 0.8


@dataclass(frozen=True, slots=True)
class KbCandidate:
    entry: KbEntry
    score: float
    matched: tuple[str, ...]


class KnowledgeBase:
    """Entries plus their precomputed question fingerprints."""

    def __init__(self, entries: Sequence[KbEntry], threshold: float, segmenter: Segmenter):
        self.entries = tuple(entries)
        self.threshold = threshold
        self._segmenter = segmenter
        self._questions = tuple(
            tuple(self._fingerprint(q) for q in entry.questions) for entry in self.entries
        )

    def _fingerprint(self, text: str) -> Fingerprint:
        normalised = normalise(text)
        words = self._segmenter.words(normalised, STOPWORDS)
        return Fingerprint(frozenset(char_ngrams(normalised)), frozenset(words))

    def register(self, matcher: Matcher) -> None:
        for index, entry in enumerate(self.entries):
            for group, words in enumerate(entry.keyword_groups):
                matcher.add_all((KB, index, group), words)

    def best(self, hits: Sequence[Hit], text: str) -> KbCandidate | None:
        """The best-scoring entry touched by the hits (may be below the threshold), or None."""
        groups: dict[int, dict[int, str]] = {}
        for hit in hits:
            _, index, group = hit.key
            groups.setdefault(index, {}).setdefault(group, hit.keyword)
        if not groups:
            return None
        query: Fingerprint | None = None
        best: KbCandidate | None = None
        for index, found in groups.items():
            entry = self.entries[index]
            share = len(found) / len(entry.keyword_groups)
            if best is not None and GROUP_WEIGHT * share + (1 - GROUP_WEIGHT) < best.score:
                continue  # cannot beat the best even with a perfect question match
            if query is None:
                query = self._fingerprint(text)
            closest = max((similarity(query, q) for q in self._questions[index]), default=0.0)
            score = round(GROUP_WEIGHT * share + (1 - GROUP_WEIGHT) * closest, 4)
            if best is None or score > best.score:
                best = KbCandidate(entry, score, tuple(found.values()))
        return best

    def answer(self, candidate: KbCandidate | None) -> KbAnswer | None:
        """The answer when the candidate reaches the threshold, else None (goes to a human)."""
        if candidate is None or candidate.score < self.threshold:
            return None
        entry = candidate.entry
        return KbAnswer(entry.id, entry.title, candidate.score, entry.answer, candidate.matched)
