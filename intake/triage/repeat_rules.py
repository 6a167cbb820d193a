"""The rules for repeats, duplicates and "the answer did not help", from data/repeats.yaml.

Windows, thresholds and words are data so that operators can tune them without a release;
the file is validated at start-up like the other catalogues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from intake.domain.errors import ConfigurationError
from intake.triage.catalogue import DATA_DIR, read_yaml
from intake.triage.models import REQUEST_TYPES
from intake.triage.text import normalise

DEFAULT_FILE = DATA_DIR / "repeats.yaml"


@dataclass(frozen=True, slots=True)
class RepeatRules:
    window: timedelta
    min_similarity: float
    supervise_after: int
    reply: str


@dataclass(frozen=True, slots=True)
class DuplicateRules:
    window: timedelta
    request_types: frozenset[str]
    radius_m: float
    min_similarity: float
    min_similarity_district: float
    max_candidates: int


@dataclass(frozen=True, slots=True)
class NotHelpfulRules:
    window: timedelta
    max_length: int
    words: tuple[str, ...]
    reply: str

    def matches(self, text: str) -> str | None:
        """The not-helpful word of a short message, or None (long messages are requests)."""
        folded = normalise(text)
        if not folded or len(folded) > self.max_length:
            return None
        return next((word for word in self.words if word in folded), None)


@dataclass(frozen=True, slots=True)
class FollowUpRules:
    repeats: RepeatRules
    duplicates: DuplicateRules
    not_helpful: NotHelpfulRules

    @classmethod
    def load(cls, path: Path | None = None) -> FollowUpRules:
        source = Path(path or DEFAULT_FILE)
        data = read_yaml(source)
        try:
            return cls(
                repeats=_repeats(data["repeats"]),
                duplicates=_duplicates(data["duplicates"]),
                not_helpful=_not_helpful(data["not_helpful"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{source}: {exc!r}") from exc


def _days(spec: dict[str, Any]) -> timedelta:
    days = float(spec["window_days"])
    if days <= 0:
        raise ValueError("window_days must be positive")
    return timedelta(days=days)


def _share(value: Any) -> float:
    share = float(value)
    if not 0 < share <= 1:
        raise ValueError(f"a similarity must be in (0, 1], not {share}")
    return share


def _repeats(spec: dict[str, Any]) -> RepeatRules:
    return RepeatRules(
        window=_days(spec),
        min_similarity=_share(spec["min_similarity"]),
        supervise_after=max(1, int(spec["supervise_after"])),
        reply=str(spec["reply"]),
    )


def _duplicates(spec: dict[str, Any]) -> DuplicateRules:
    types = frozenset(str(t) for t in spec["request_types"])
    if types - set(REQUEST_TYPES):
        raise ValueError(f"unknown request types {sorted(types - set(REQUEST_TYPES))}")
    return DuplicateRules(
        window=_days(spec),
        request_types=types,
        radius_m=float(spec["radius_m"]),
        min_similarity=_share(spec["min_similarity"]),
        min_similarity_district=_share(spec["min_similarity_district"]),
        max_candidates=max(1, int(spec["max_candidates"])),
    )


def _not_helpful(spec: dict[str, Any]) -> NotHelpfulRules:
    words = tuple(sorted({normalise(str(w)) for w in spec["words"]} - {""}, key=len, reverse=True))
    if not words:
        raise ValueError("not_helpful needs at least one word")
    return NotHelpfulRules(
        window=_days(spec),
        max_length=int(spec["max_length"]),
        words=words,
        reply=str(spec["reply"]),
    )
