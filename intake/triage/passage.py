"""A message cut into sentences, clauses and quotations, and the shape of it as a whole.

Guards and the knowledge base read a keyword in its sentence or clause rather than anywhere
in the text: in a letter of 400 characters, "车祸" in a story about last year and "怎么" in the
closing line have nothing to do with each other. Works on the normalised text, so offsets
are those of the matcher's hits.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache, cached_property

from intake.triage.cues import Cues, any_in

SENTENCE_ENDS = frozenset("。!?;")
CLAUSE_ENDS = SENTENCE_ENDS | frozenset(",:、")
QUESTION_MARKS = frozenset("?")
QUOTE_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", '"': '"'}
_QUOTE_OPENS = re.compile("[" + "".join(re.escape(mark) for mark in QUOTE_PAIRS) + "]")


@dataclass(frozen=True, slots=True)
class Shape:
    """Measurable signs that a message is a letter rather than a quick question: the first
    limit it passes (the cheapest are measured first, and the rest never once one is)."""

    chars: int
    letter_reason: str | None  # which limit it passes, or None for a short message

    @property
    def is_letter(self) -> bool:
        return self.letter_reason is not None


class Passage:
    """Sentence and clause boundaries of one normalised text, computed on first use."""

    def __init__(self, text: str, cues: Cues) -> None:
        self.text = text
        self._cues = cues

    @cached_property
    def _sentence_starts(self) -> list[int]:
        return _starts(self.text, SENTENCE_ENDS)

    @cached_property
    def _clause_starts(self) -> list[int]:
        return _starts(self.text, CLAUSE_ENDS)

    @cached_property
    def _quotes(self) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        text, i = self.text, 0
        while (found := _QUOTE_OPENS.search(text, i)) is not None:
            start = found.start()
            end = text.find(QUOTE_PAIRS[text[start]], start + 1)
            if end > start:
                spans.append((start, end))
                i = end + 1
            else:
                i = start + 1
        return spans

    def sentence(self, position: int) -> tuple[int, int]:
        """(start, end) of the sentence holding `position`; end excludes the end mark."""
        return _span(self.text, self._sentence_starts, position)

    def clause(self, position: int) -> tuple[int, int]:
        return _span(self.text, self._clause_starts, position)

    def quoted(self, start: int, end: int) -> bool:
        return any(q0 < start and end <= q1 for q0, q1 in self._quotes)

    def sentences(self) -> list[tuple[int, int]]:
        """Every non-empty sentence, in order."""
        spans = [self.sentence(start) for start in self._sentence_starts]
        return [(s, e) for s, e in spans if e > s]

    def is_question(self, start: int, end: int) -> bool:
        """A sentence ending with a question mark or holding a question word."""
        if end < len(self.text) and self.text[end] in QUESTION_MARKS:
            return True
        sentence = self.text[start:end]
        return any_in(self._cues.question, sentence)

    @cached_property
    def question_sentences(self) -> list[tuple[int, int]]:
        return [(s, e) for s, e in self.sentences() if self.is_question(s, e)]

    @cached_property
    def question_clauses(self) -> list[tuple[int, int]]:
        """The clauses that ask (a question word, or the clause right before a "?"): what a
        question is about, without the situation told around it ("合同到期单位不续签了，")."""
        spans = [self.clause(start) for start in self._clause_starts]
        return [(s, e) for s, e in spans if e > s and self.is_question(s, e)]

    @cached_property
    def shape(self) -> Shape:
        return Shape(len(self.text), self._letter_reason())

    def _letter_reason(self) -> str | None:
        cues, text = self._cues, self.text
        limits = cues.letter
        if (chars := len(text)) > limits.max_chars:
            return f"{chars} characters > {limits.max_chars}"
        if (sentences := len(self.sentences())) > limits.max_sentences:
            return f"{sentences} sentences > {limits.max_sentences}"
        if (questions := len(self.question_sentences)) > limits.max_questions:
            return f"{questions} questions > {limits.max_questions}"
        if (story := sum(word in text for word in cues.story)) > limits.max_story_words:
            return f"{story} story words > {limits.max_story_words}"
        requests = sum(text.count(word) for word in cues.request)
        if requests > limits.max_request_words:
            return f"{requests} requests > {limits.max_request_words}"
        return None


def _starts(text: str, ends: frozenset[str]) -> list[int]:
    starts = [0]
    starts.extend(found.end() for found in _end_pattern(ends).finditer(text))
    return starts


@cache
def _end_pattern(ends: frozenset[str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(char) for char in sorted(ends)) + "]")


def _span(text: str, starts: list[int], position: int) -> tuple[int, int]:
    index = bisect_right(starts, position) - 1
    start = starts[index]
    end = starts[index + 1] - 1 if index + 1 < len(starts) else len(text)
    return start, end
