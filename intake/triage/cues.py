"""The context cues of `data/context.yaml`: words that say whether a keyword is meant, now.

Loaded once with the catalogue; operators edit the file, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from intake.domain.errors import ConfigurationError
from intake.triage.text import normalise


@dataclass(frozen=True, slots=True)
class LetterLimits:
    """Beyond any of these a message is a letter: the bot never closes it by itself."""

    max_chars: int = 120
    max_sentences: int = 4
    max_questions: int = 3
    max_story_words: int = 1
    max_request_words: int = 3


@dataclass(frozen=True, slots=True)
class Cues:
    negation: tuple[str, ...] = ()
    negation_window: int = 4
    past: tuple[str, ...] = ()
    past_before_keyword: tuple[str, ...] = ()
    past_after_keyword: tuple[str, ...] = ()
    past_after_keyword_not: tuple[str, ...] = ()
    past_date: re.Pattern[str] | None = None
    now: tuple[str, ...] = ()
    hypothetical: tuple[str, ...] = ()
    hypothetical_after: tuple[str, ...] = ()
    habitual: tuple[str, ...] = ()
    metaphor: tuple[str, ...] = ()
    metaphor_with: tuple[str, ...] = ()
    metaphor_same: tuple[str, ...] = ()
    passing: tuple[str, ...] = ()
    request: tuple[str, ...] = ()
    question: tuple[str, ...] = ()
    story: tuple[str, ...] = ()
    alarm: tuple[str, ...] = ()
    over: tuple[str, ...] = ()
    consulting: tuple[str, ...] = ()
    maintenance: tuple[str, ...] = ()
    complaint: tuple[str, ...] = ()
    complement: tuple[str, ...] = ()
    asking: tuple[str, ...] = ()
    asking_not: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    generic: tuple[str, ...] = ()
    letter: LetterLimits = LetterLimits()


_LISTS = (
    "negation",
    "past",
    "past_before_keyword",
    "past_after_keyword",
    "past_after_keyword_not",
    "now",
    "hypothetical",
    "hypothetical_after",
    "habitual",
    "metaphor",
    "metaphor_with",
    "metaphor_same",
    "passing",
    "request",
    "question",
    "story",
    "alarm",
    "over",
    "consulting",
    "maintenance",
    "complaint",
    "complement",
    "asking",
    "asking_not",
    "evidence",
    "generic",
)


def any_in(words: tuple[str, ...], text: str) -> bool:
    """True when one of the words occurs in text: one regular-expression scan instead of one
    substring search per word (cue lists are checked many times for every letter)."""
    return bool(words) and _pattern(words).search(text) is not None


@cache
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)))


def _words(path: Path, name: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigurationError(f"{path}: {name} must be a list of words")
    return tuple(w for w in (normalise(str(v)) for v in raw) if w)


def load_cues(path: Path) -> Cues:
    """Read and check the cue file; a bad edit is refused at start-up."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read triage context cues {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping at the top level")
    try:
        pattern = data.get("past_date_pattern")
        past_date = re.compile(str(pattern)) if pattern else None
        limits = LetterLimits(**{k: int(v) for k, v in (data.get("letter") or {}).items()})
        window = int(data.get("negation_window", 4))
    except (ValueError, TypeError, re.error) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    lists = {name: _words(path, name, data.get(name)) for name in _LISTS}
    return Cues(**lists, negation_window=window, past_date=past_date, letter=limits)
