"""Text normalisation, one-pass keyword matching and jieba segmentation.

Keyword rules are matched as substrings of the normalised text rather than as jieba tokens:
citizens' messages are colloquial and full of typos and run-together words, and a phrase such as
"停水" must be found whether jieba cuts "停水了" as one token or two. To keep this fast at
thousands of requests a second, every keyword of every rule set is compiled into one `Matcher`
indexed by its first two characters, so a request is scanned once for all rule sets.

jieba (with the hotline's custom dictionary) is used where word boundaries matter: knowledge-base
retrieval, text similarity, and checking that an emergency keyword found as a substring is a
word of its clause. It is initialised once per process per dictionary.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import jieba

jieba.setLogLevel(logging.WARNING)

# (namespace, ...): which rule set and which rule a keyword feeds, e.g. ("category", "noise")
RuleKey = tuple[Any, ...]

_PUNCT_CATEGORIES = ("P", "S", "Z", "C")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower-case, drop whitespace; keeps punctuation.

    Punctuation is kept because "？" is a signal for consultations; whitespace is dropped so
    that "停 水" and "停水" match the same rule.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(folded.split())


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
    """Finds every registered keyword in a text in one pass over its character bigrams.

    `add(key, keyword, weight)` registers a keyword for a rule key (a tuple whose first item is
    the rule set's namespace, e.g. ("category", "noise")); one keyword may feed several keys.
    `find(text)` returns one hit per (keyword, key), at the keyword's first occurrence.
    """

    def __init__(self) -> None:
        self._by_bigram: dict[str, dict[str, list[tuple[RuleKey, float]]]] = {}
        self._by_char: dict[str, list[tuple[RuleKey, float]]] = {}

    def add(self, key: RuleKey, keyword: str, weight: float = 1.0) -> None:
        keyword = normalise(keyword)
        if not keyword:
            return
        if len(keyword) == 1:
            self._by_char.setdefault(keyword, []).append((key, weight))
            return
        bucket = self._by_bigram.setdefault(keyword[:2], {})
        bucket.setdefault(keyword, []).append((key, weight))

    def add_all(self, key: RuleKey, keywords: Iterable[str], weight: float = 1.0) -> None:
        for keyword in keywords:
            self.add(key, keyword, weight)

    def find(self, text: str) -> list[Hit]:
        """All hits in `text` (already normalised)."""
        hits: list[Hit] = []
        seen: set[str] = set()
        by_bigram = self._by_bigram
        for i in range(len(text) - 1):
            bucket = by_bigram.get(text[i : i + 2])
            if bucket is None:
                continue
            for keyword, targets in bucket.items():
                if keyword in seen or not text.startswith(keyword, i):
                    continue
                seen.add(keyword)
                hits.extend(Hit(key, keyword, weight, i) for key, weight in targets)
        for char, targets in self._by_char.items():
            position = text.find(char)
            if position >= 0:
                hits.extend(Hit(key, char, weight, position) for key, weight in targets)
        return hits


def drop_nested(hits: list[Hit]) -> list[Hit]:
    """Remove hits whose span lies strictly inside a longer hit's span (maximal munch).

    Applied within one rule set, so that "态度很差" does not also count as "态度" and "很差",
    and "渣土车" not also as "渣土".
    """
    if len(hits) < 2:
        return hits
    return [
        hit
        for hit in hits
        if not any(
            other.start <= hit.start
            and hit.end <= other.end
            and len(other.keyword) > len(hit.keyword)
            for other in hits
        )
    ]


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

    @classmethod
    def get(cls, user_dict: Path | None) -> Segmenter:
        key = str(Path(user_dict).resolve()) if user_dict else ""
        with cls._lock:
            segmenter = cls._cache.get(key)
            if segmenter is None:
                segmenter = cls._cache[key] = cls(user_dict)
        return segmenter

    def boundaries(self, text: str) -> frozenset[int]:
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
