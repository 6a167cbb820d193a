"""The learned half of the emergency check: danger that no keyword list names.

Citizens describe an emergency in words nobody listed ("老爷子叫不答应", "车底下压着个人").
A five-class linear model over character n-grams ("none" and the four numbers 110, 119, 120,
122), trained on labelled messages, says how likely a message reports danger now and which
number fits. It only speaks where the keyword guard found nothing standing, and only when the
message reads as an alarm (see `guards.learned_may_act`); it is stored like the category model,
as arrays and JSON that run no code when loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from intake.domain.errors import ConfigurationError
from intake.triage.learned.dataset import Row
from intake.triage.learned.files import load_model, save_model
from intake.triage.learned.model import LearnedModel
from intake.triage.learned.training import TrainingPlan, fit, model_info

NONE = "none"
SERVICES = ("110", "119", "120", "122")
DEFAULT_THRESHOLD = 0.4
WORDS = 5  # the n-grams behind a finding, for the decision trail


@dataclass(frozen=True, slots=True)
class LearnedAlarm:
    """What the model reads in one message: P(emergency now), the likeliest number, why."""

    probability: float
    service: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class EmergencyModel:
    """Pure and thread-safe; `threshold` is stored with the model (its `category_threshold`)."""

    model: LearnedModel

    @property
    def threshold(self) -> float:
        return self.model.info.category_threshold

    @property
    def version(self) -> str:
        return self.model.info.version

    def read(self, normalised: str) -> LearnedAlarm:
        model = self.model
        head = model.category
        indices, values = model.featurizer.vector(normalised, normalised=True)
        probabilities = head.probabilities(indices, values)
        classes = head.classes
        none = classes.index(NONE)
        numbers = [i for i in range(len(classes)) if i != none]
        best = max(numbers, key=lambda i: float(probabilities[i]))
        probability = 1.0 - float(probabilities[none])
        words: tuple[str, ...] = ()
        if probability >= self.threshold:
            ranked = head.ranked(indices, values, model.terms, top=1, words=WORDS)
            words = ranked[0].words if ranked[0].label != NONE else ()
        return LearnedAlarm(probability, classes[best], words)


def train_emergency(
    rows: Sequence[tuple[str, str | None]],
    *,
    version: str,
    threshold: float = DEFAULT_THRESHOLD,
    now: datetime | None = None,
) -> EmergencyModel:
    """Fit on (text, number or None) pairs: None for a message that is no emergency now."""
    labelled = [Row(text, number or NONE) for text, number in rows]
    unknown = sorted({row.category for row in labelled} - {NONE, *SERVICES})
    if unknown:
        raise ValueError(f"emergency numbers must be one of {', '.join(SERVICES)}: {unknown}")
    info = replace(model_info(version, labelled, now), category_threshold=threshold)
    return EmergencyModel(fit(labelled, TrainingPlan(), None, info))


def save_emergency_model(model: EmergencyModel, folder: Path) -> None:
    save_model(model.model, folder)


def load_emergency_model(folder: Path) -> EmergencyModel | None:
    """The stored model, or None when there is no folder (the keyword guard works alone)."""
    if not folder.is_dir():
        return None
    model = load_model(folder)
    classes = set(model.category.classes)
    if NONE not in classes or not classes - {NONE} or not classes - {NONE} <= set(SERVICES):
        raise ConfigurationError(
            f"{folder}: not an emergency model (its classes are {sorted(classes)})"
        )
    return EmergencyModel(model)
