"""Text → TF-IDF feature vector, the same at training and at run time.

Character n-grams of the normalised text (Chinese needs no word boundaries for them, and
jieba would cost more than the whole rest of triage on a long letter); jieba words can be
added by a model's settings. Training fits scikit-learn's `TfidfVectorizer` with `grams` as
its analyzer; a stored model keeps only its vocabulary and idf weights, and `Featurizer`
recomputes the same sublinear, l2-normalised vector with numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from intake.triage.text import Segmenter, normalise

WORD_PREFIX = "w:"  # word features never collide with character n-grams


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """How a text becomes features; stored with the model."""

    ngram_min: int = 1
    ngram_max: int = 2
    words: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"ngram_min": self.ngram_min, "ngram_max": self.ngram_max, "words": self.words}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> FeatureSettings:
        return cls(
            ngram_min=int(str(raw.get("ngram_min", 1))),
            ngram_max=int(str(raw.get("ngram_max", 2))),
            words=bool(raw.get("words", False)),
        )


def analyzer(
    settings: FeatureSettings, segmenter: Segmenter | None = None
) -> Callable[[str], list[str]]:
    """The function that lists a text's features (n-grams, then words when asked for)."""

    def grams(text: str) -> list[str]:
        normalised = normalise(text)
        found = list(_ngrams(normalised, settings.ngram_min, settings.ngram_max))
        if settings.words and segmenter is not None:
            found.extend(WORD_PREFIX + word for word in segmenter.words(normalised))
        return found

    return grams


def _ngrams(text: str, low: int, high: int) -> Iterator[str]:
    size = len(text)
    for n in range(low, high + 1):
        for i in range(size - n + 1):
            yield text[i : i + n]


BITS = 21  # a Unicode code point; three of them fit an int64 key
MAX_N = 3
DENSE_LIMIT = 0x10000  # single characters of the Basic Multilingual Plane are looked up by index


@dataclass(frozen=True)
class Featurizer:
    """Vocabulary and idf of a fitted vectorizer; `vector(text)` → (indices, values).

    Character n-grams are looked up as integer keys (code points packed into an int64) in
    sorted arrays, one per n, so that a long letter costs a few numpy calls, not a Python
    dictionary lookup per n-gram; single characters index a dense table directly. Two models
    trained on one vocabulary share one featurizer (`files.load_model`), and the last text's
    vector is kept, so a letter read by both is vectorised once."""

    settings: FeatureSettings
    vocabulary: dict[str, int]
    idf: np.ndarray
    segmenter: Segmenter | None = None
    _tables: dict[int, tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False)
    _dense: np.ndarray | None = field(init=False, repr=False)
    _last: tuple[str, tuple[np.ndarray, np.ndarray]] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settings.ngram_max > MAX_N or self.settings.ngram_min < 1:
            raise ValueError(f"character n-grams of 1 to {MAX_N} only")
        keyed: dict[int, list[tuple[int, int]]] = {}
        for term, index in self.vocabulary.items():
            if not term.startswith(WORD_PREFIX):
                keyed.setdefault(len(term), []).append((_key(term), index))
        tables = {}
        for n, pairs in keyed.items():
            pairs.sort()
            keys = np.array([k for k, _ in pairs], dtype=np.int64)
            tables[n] = (keys, np.array([i for _, i in pairs], dtype=np.int32))
        dense = None
        if 1 in tables and int(tables[1][0][-1]) < DENSE_LIMIT:
            dense = np.full(DENSE_LIMIT, -1, dtype=np.int32)
            dense[tables[1][0]] = tables[1][1]
        object.__setattr__(self, "_tables", tables)
        object.__setattr__(self, "_dense", dense)
        object.__setattr__(self, "_last", None)

    @property
    def terms(self) -> list[str]:
        """Feature names in index order."""
        names = [""] * len(self.vocabulary)
        for term, index in self.vocabulary.items():
            names[index] = term
        return names

    def vector(self, text: str, *, normalised: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The text's non-zero features: indices (int32) and l2-normalised values (float32);
        `normalised=True` when `text` already went through `normalise`. The arrays returned
        are shared with later callers of the same text: read them, never write them."""
        if not normalised:
            text = normalise(text)
        last = self._last  # one read: the text and its vector were stored together
        if last is not None and last[0] == text:
            return last[1]
        found = self._vector(text)
        object.__setattr__(self, "_last", (text, found))
        return found

    def _vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        dense = self._dense if codes.size and int(codes.max()) < DENSE_LIMIT else None
        wide = codes.astype(np.int64)
        found = [
            _indexed(dense, codes) if n == 1 and dense is not None else self._lookup(wide, n)
            for n in self._tables
        ]
        if self.settings.words and self.segmenter is not None:
            vocabulary = self.vocabulary
            words = (WORD_PREFIX + w for w in self.segmenter.words(text))
            found.append(np.array([vocabulary[w] for w in words if w in vocabulary], np.int32))
        hits = np.concatenate(found) if found else np.empty(0, np.int32)
        if not hits.size:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        indices, counts = _counted(hits)
        values = (1.0 + np.log(counts.astype(np.float32))) * self.idf[indices]
        norm = float(np.sqrt(values @ values))
        if norm > 0:
            values /= norm
        indices.flags.writeable = values.flags.writeable = False  # shared with later callers
        return indices, values

    def _lookup(self, codes: np.ndarray, n: int) -> np.ndarray:
        if codes.size < n:
            return np.empty(0, np.int32)
        query = codes[: codes.size - n + 1].copy()
        for offset in range(1, n):
            query = (query << BITS) | codes[offset : codes.size - n + 1 + offset]
        query.sort()  # sorted needles: each binary search starts where the last one ended
        keys, ids = self._tables[n]
        positions = np.searchsorted(keys, query)
        np.minimum(positions, keys.size - 1, out=positions)
        return ids[positions[keys[positions] == query]]


def _indexed(dense: np.ndarray, codes: np.ndarray) -> np.ndarray:
    ids = dense[codes]
    return ids[ids >= 0]


def _counted(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values, sorted, and how often each occurs (`np.unique` with counts, for the
    few hundred values of one letter without its general-purpose overhead)."""
    hits = np.sort(hits)
    first = np.empty(hits.size, dtype=bool)
    first[0] = True
    np.not_equal(hits[1:], hits[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return hits[starts], np.diff(np.append(starts, hits.size))


def _key(term: str) -> int:
    key = 0
    for char in term:
        key = (key << BITS) | ord(char)
    return key
