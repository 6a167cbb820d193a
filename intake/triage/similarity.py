"""Text similarity for duplicate and repeat detection (wired by the core).

Two views are blended because each fails differently: character bigrams are robust to
segmentation and typos ("停水" vs "停了水"), jieba word overlap is robust to word order and
filler. Both are set measures, so the result is symmetric and in [0, 1]. Precompute a
`Fingerprint` per open ticket when comparing one new request against many.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intake.triage.catalogue import DATA_DIR
from intake.triage.text import Segmenter, char_ngrams, normalise

_STOPWORD_TEXT = (
    "的 了 是 在 我 我们 你 你们 他 她 它 这 那 有 就 都 也 还 和 与 及 吧 吗 呢 啊 呀 哦 嗯 "
    "一个 一下 请 您好 你好 喂 麻烦 谢谢 一直 现在 今天 已经 这个 那个 什么 怎么"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split(" "))
CHAR_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The comparable features of one text."""

    bigrams: frozenset[str]
    words: frozenset[str]


def fingerprint(text: str, *, user_dict: Path | None = DATA_DIR / "custom_dict.txt") -> Fingerprint:
    normalised = normalise(text)
    words = Segmenter.get(user_dict).words(normalised, STOPWORDS)
    return Fingerprint(frozenset(char_ngrams(normalised, 2)), frozenset(words))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Blend of bigram and word Dice coefficients, in [0, 1]."""
    score = CHAR_WEIGHT * _dice(a.bigrams, b.bigrams) + (1 - CHAR_WEIGHT) * _dice(a.words, b.words)
    return round(score, 4)


def similar(text_a: str, text_b: str) -> float:
    """How alike two texts are, 0 (nothing shared) to 1 (same content words and characters)."""
    return similarity(fingerprint(text_a), fingerprint(text_b))
