"""Text normalisation, one-pass keyword matching and jieba segmentation.

Keyword rules are matched as substrings of the normalised text rather than as jieba tokens:
citizens' messages are colloquial and full of typos and run-together words, and a phrase such as
"停水" must be found whether jieba cuts "停水了" as one token or two. To keep this fast at
thousands of requests a second, every keyword of every rule set is compiled into one `Matcher`
(an Aho-Corasick automaton), so a request is scanned once for all rule sets.

jieba (with the hotline's custom dictionary) is used where word boundaries matter: knowledge-base
retrieval, text similarity, and checking that an emergency keyword found as a substring is a
word of its clause. It is initialised once per process per dictionary.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import jieba
import numpy as np
from ahocorasick_rs import AhoCorasick, MatchKind

jieba.setLogLevel(logging.WARNING)

# (namespace, ...): which rule set and which rule a keyword feeds, e.g. ("category", "noise")
RuleKey = tuple[Any, ...]

_PUNCT_CATEGORIES = ("P", "S", "Z", "C")
# full-width ASCII forms and the ideographic space, as NFKC folds them
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# the same folding as a table over the Basic Multilingual Plane: one numpy gather per text
# instead of a dictionary lookup per character
_NARROW = np.arange(0x10000, dtype=np.uint32)
_NARROW[0xFF01:0xFF5F] -= 0xFEE0
_NARROW[0x3000] = 0x20


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower-case, drop whitespace; keeps punctuation.

    Punctuation is kept because "？" is a signal for consultations; whitespace is dropped so
    that "停 水" and "停水" match the same rule.
    """
    narrowed = _narrow(text)  # what NFKC does to most of a Chinese text
    if not unicodedata.is_normalized("NFKC", narrowed):  # a quick check, then the full work
        narrowed = unicodedata.normalize("NFKC", narrowed)
    return "".join(narrowed.lower().split())


def _narrow(text: str) -> str:
    try:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:  # a lone surrogate: the table cannot hold it
        return text.translate(_FULL_WIDTH)
    if not codes.size or int(codes.max()) >= _NARROW.size:
        return text.translate(_FULL_WIDTH)
    return _NARROW[codes].tobytes().decode("utf-32-le")


def is_content_char(char: str) -> bool:
    """True for letters and digits (Han included); False for punctuation, symbols, spaces."""
    return not unicodedata.category(char).startswith(_PUNCT_CATEGORIES)


class Hit(NamedTuple):
    """One keyword found in a text: which rule set entry it feeds, where, and its weight.

    A named tuple: a matcher makes dozens per request, and a frozen dataclass costs
    several times as much to construct."""

    key: RuleKey
    keyword: str
    weight: float
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.keyword)


class Matcher:
    """Finds every registered keyword in a text in one Aho-Corasick pass.

    `add(key, keyword, weight)` registers a keyword for a rule key (a tuple whose first item is
    the rule set's namespace, e.g. ("category", "noise")); one keyword may feed several keys.
    `find(text)` returns one hit per (keyword, key), at the keyword's first occurrence, in the
    order of those occurrences (keywords of one character last). The automaton is built on the
    first `find` after an `add`.
    """

    def __init__(self) -> None:
        self._targets: dict[str, list[tuple[RuleKey, float]]] = {}
        self._by_char: dict[str, list[tuple[RuleKey, float]]] = {}
        self._automaton: AhoCorasick | None = None
        self._patterns: list[str] = []
        self._by_index: list[tuple[str, list[tuple[RuleKey, float]]]] = []

    def add(self, key: RuleKey, keyword: str, weight: float = 1.0) -> None:
        keyword = normalise(keyword)
        if not keyword:
            return
        if len(keyword) == 1:
            self._by_char.setdefault(keyword, []).append((key, weight))
            return
        self._targets.setdefault(keyword, []).append((key, weight))
        self._automaton = None

    def add_all(self, key: RuleKey, keywords: Iterable[str], weight: float = 1.0) -> None:
        for keyword in keywords:
            self.add(key, keyword, weight)

    def find(self, text: str) -> list[Hit]:
        """All hits in `text` (already normalised)."""
        hits: list[Hit] = []
        if self._targets:
            automaton = self._automaton or self._build()
            by_index = self._by_index
            first: dict[int, int] = {}
            for index, start, _ in automaton.find_matches_as_indexes(text, overlapping=True):
                if index not in first:
                    first[index] = start
            for index, start in sorted(first.items(), key=_by_start):
                keyword, targets = by_index[index]
                hits.extend([Hit(key, keyword, weight, start) for key, weight in targets])
        for char, char_targets in self._by_char.items():
            position = text.find(char)
            if position >= 0:
                hits.extend([Hit(key, char, weight, position) for key, weight in char_targets])
        return hits

    def _build(self) -> AhoCorasick:
        self._patterns = list(self._targets)
        self._by_index = [(keyword, self._targets[keyword]) for keyword in self._patterns]
        self._automaton = AhoCorasick(self._patterns, matchkind=MatchKind.Standard)
        return self._automaton


def _by_start(item: tuple[int, int]) -> tuple[int, int]:
    return item[1], item[0]


def drop_nested(hits: list[Hit]) -> list[Hit]:
    """Remove hits whose span lies strictly inside a longer hit's span (maximal munch).

    Applied within one rule set, so that "态度很差" does not also count as "态度" and "很差",
    and "渣土车" not also as "渣土".
    """
    if len(hits) < 2:
        return hits
    nested: set[tuple[int, int]] = set()
    reach = -1  # the furthest end of the spans before, each starting no later and longer
    for start, end in sorted({(hit.start, hit.end) for hit in hits}, key=lambda s: (s[0], -s[1])):
        if end <= reach:
            nested.add((start, end))
        reach = max(reach, end)
    return [hit for hit in hits if (hit.start, hit.end) not in nested] if nested else hits


class Segmenter:
    """A jieba tokenizer with the hotline dictionary loaded; build via `Segmenter.get(path)`.

    A private `jieba.Tokenizer` (not the global one) so that two catalogues with different
    dictionaries cannot disturb each other; instances are cached because initialising jieba
    costs about a second.
    """

    _cache: ClassVar[dict[str, Segmenter]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, user_dict: Path | None) -> None:
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        if user_dict is not None:
            self._tokenizer.load_userdict(str(user_dict))
        # one clause is asked about once per keyword in it
        self.boundaries = lru_cache(maxsize=4096)(self._boundaries)

    @classmethod
    def get(cls, user_dict: Path | None) -> Segmenter:
        key = str(Path(user_dict).resolve()) if user_dict else ""
        with cls._lock:
            segmenter = cls._cache.get(key)
            if segmenter is None:
                segmenter = cls._cache[key] = cls(user_dict)
        return segmenter

    def _boundaries(self, text: str) -> frozenset[int]:
        """Offsets in `text` where a jieba token starts or ends: a keyword is a word of the
        text only when both its ends are here ("没有意识" is not one in "有没有意识到")."""
        offsets, position = {0}, 0
        for token in self._tokenizer.lcut(text, HMM=False):
            position += len(token)
            offsets.add(position)
        return frozenset(offsets)

    def words(self, text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
        """Content tokens of an already normalised text (punctuation and stopwords removed)."""
        return [
            token
            for token in self._tokenizer.lcut(text, HMM=False)
            if token not in stopwords and any(is_content_char(c) for c in token)
        ]


def char_ngrams(text: str, n: int = 2) -> set[str]:
    """Character n-grams over the content characters of a text (punctuation removed)."""
    content = "".join(c for c in text if is_content_char(c))
    if len(content) < n:
        return {content} if content else set()
    return {content[i : i + n] for i in range(len(content) - n + 1)}


def first_position(hits: Sequence[Hit]) -> int:
    """Where the earliest hit starts (used to prefer the place named first)."""
    return min((hit.start for hit in hits), default=1 << 30)
