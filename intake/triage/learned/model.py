"""A learned triage model: the featurizer, a category head, an optional request-type head, and
what is known about it (version, training data hash, figures, thresholds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intake.triage.learned.features import WORD_PREFIX, Featurizer
from intake.triage.learned.head import LinearHead
from intake.triage.models import Candidate

TOP = 3  # candidates recorded for the agent


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's view of one text: ranked categories and, if it decides them, types."""

    version: str
    categories: tuple[Candidate, ...]
    category_threshold: float
    types: tuple[Candidate, ...] = ()
    type_threshold: float = 1.0

    @property
    def category_sure(self) -> bool:
        return bool(self.categories) and self.categories[0].probability >= self.category_threshold

    @property
    def type_sure(self) -> bool:
        return bool(self.types) and self.types[0].probability >= self.type_threshold


@dataclass(frozen=True)
class ModelInfo:
    """What a stored model says about itself (model.json without the vocabulary)."""

    version: str
    created_at: str
    training_sha256: str
    rows: int
    category_threshold: float
    type_threshold: float
    decides_type: bool
    figures: dict[str, Any] = field(default_factory=dict)
    codes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "training_sha256": self.training_sha256,
            "rows": self.rows,
            "category_threshold": self.category_threshold,
            "type_threshold": self.type_threshold,
            "decides_type": self.decides_type,
            "figures": self.figures,
            "codes": list(self.codes),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelInfo:
        return cls(
            version=str(raw["version"]),
            created_at=str(raw.get("created_at", "")),
            training_sha256=str(raw.get("training_sha256", "")),
            rows=int(raw.get("rows", 0)),
            category_threshold=float(raw["category_threshold"]),
            type_threshold=float(raw.get("type_threshold", 1.0)),
            decides_type=bool(raw.get("decides_type", False)),
            figures=dict(raw.get("figures") or {}),
            codes=tuple(str(c) for c in raw.get("codes") or ()),
        )


@dataclass(frozen=True)
class LearnedModel:
    """Pure and thread-safe: `predict(text)` reads the arrays and changes nothing."""

    info: ModelInfo
    featurizer: Featurizer
    category: LinearHead
    request_type: LinearHead | None = None
    terms: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.terms:
            names = [t.removeprefix(WORD_PREFIX) for t in self.featurizer.terms]
            object.__setattr__(self, "terms", names)

    @property
    def version(self) -> str:
        return self.info.version

    def predict(self, text: str, *, normalised: bool = False, words: int = 5) -> Prediction:
        """Ranked categories (and types, when the model decides them) for one text."""
        indices, values = self.featurizer.vector(text, normalised=normalised)
        info = self.info
        categories = self.category.ranked(
            indices, values, self.terms, top=TOP, words=words, sure=info.category_threshold
        )
        types: list[Candidate] = []
        if self.request_type is not None and info.decides_type:
            types = self.request_type.ranked(indices, values, self.terms, top=1, words=0)
        return Prediction(
            version=info.version,
            categories=tuple(categories),
            category_threshold=info.category_threshold,
            types=tuple(types),
            type_threshold=info.type_threshold,
        )

    def category_of(self, text: str) -> str:
        """The likeliest category, whatever the confidence (for evaluation)."""
        indices, values = self.featurizer.vector(text)
        probabilities = self.category.probabilities(indices, values)
        return self.category.classes[int(probabilities.argmax())]

    def type_of(self, text: str) -> str | None:
        if self.request_type is None:
            return None
        indices, values = self.featurizer.vector(text)
        probabilities = self.request_type.probabilities(indices, values)
        return self.request_type.classes[int(probabilities.argmax())]
