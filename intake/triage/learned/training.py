"""Fitting a model with scikit-learn and turning it into plain arrays (`LearnedModel`).

A linear SVM over TF-IDF character n-grams, its scores calibrated by per-class sigmoids fitted
on held-out folds. A fifth of the rows is held back first: the model trained on the rest is
measured there (the figures stored with the model), the thresholds are chosen there, and the
stored model is then fitted on every row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from intake.domain.errors import InvalidInput
from intake.triage.learned.dataset import Row, sha256
from intake.triage.learned.evaluation import Rules, evaluate
from intake.triage.learned.features import FeatureSettings, Featurizer, analyzer
from intake.triage.learned.head import LinearHead
from intake.triage.learned.model import LearnedModel, ModelInfo
from intake.triage.text import Segmenter

HELD_BACK = 0.2
SEED = 20
MIN_EXAMPLES = 2  # a category with fewer rows cannot be learned (nor calibrated)
FOLDS = 5
SVM_C = 1.0
CATEGORY_PRECISION = 0.95  # a category decided alone must be right this often on held-back rows
DEFAULT_THRESHOLD = 0.6  # when too few rows are held back to choose one
MIN_TO_CHOOSE = 40
GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.3 … 0.9


@dataclass(frozen=True)
class TrainingPlan:
    features: FeatureSettings = field(default_factory=FeatureSettings)
    svm_c: float = SVM_C
    held_back: float = HELD_BACK


def train(
    rows: Sequence[Row],
    *,
    version: str,
    rules: Rules | None = None,
    plan: TrainingPlan | None = None,
    segmenter: Segmenter | None = None,
    now: datetime | None = None,
) -> LearnedModel:
    """Measure on a held-back part, choose the thresholds there, then fit on every row."""
    plan = plan or TrainingPlan()
    if len({row.category for row in rows}) < 2:
        raise InvalidInput("training needs at least two categories", field="file")
    fitting, held = _split(rows, plan.held_back)
    trial = fit(fitting, plan, segmenter, model_info(version, rows, now))
    figures = evaluate(trial, held, rules=rules) if held else {}
    threshold = _category_threshold(trial, held)
    type_threshold, decides_type = _type_choice(trial, held, rules)
    info = replace(
        trial.info,
        category_threshold=threshold,
        type_threshold=type_threshold,
        decides_type=decides_type,
    )
    final = fit(rows, plan, segmenter, info)
    if held:
        figures = {**figures, **_confident(trial, held, info)}
    return replace(final, info=replace(final.info, figures=figures))


def model_info(version: str, rows: Sequence[Row], now: datetime | None) -> ModelInfo:
    """What a new model says about itself before it is measured."""
    return ModelInfo(
        version=version,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        training_sha256=sha256(rows),
        rows=len(rows),
        category_threshold=DEFAULT_THRESHOLD,
        type_threshold=1.0,
        decides_type=False,
    )


def _split(rows: Sequence[Row], share: float) -> tuple[list[Row], list[Row]]:
    counts = Counter(row.category for row in rows)
    if share <= 0 or len(rows) < 10:
        return list(rows), []
    stratify = [row.category for row in rows] if min(counts.values()) >= 2 else None
    fitting, held = train_test_split(
        list(rows), test_size=share, random_state=SEED, stratify=stratify
    )
    return list(fitting), list(held)


def fit(
    rows: Sequence[Row], plan: TrainingPlan, segmenter: Segmenter | None, info: ModelInfo
) -> LearnedModel:
    """One fit on every row: features, a calibrated head for `category`, one for types."""
    vectorizer = TfidfVectorizer(
        analyzer=analyzer(plan.features, segmenter), sublinear_tf=True, min_df=2, dtype=np.float32
    )
    matrix = vectorizer.fit_transform([row.document for row in rows])
    featurizer = Featurizer(
        plan.features,
        {str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
        vectorizer.idf_.astype(np.float32),
        segmenter,
    )
    category = _head(matrix, [row.category for row in rows], plan.svm_c)
    if category is None:
        raise InvalidInput(
            f"training needs at least two categories with {MIN_EXAMPLES} rows each", field="file"
        )
    typed = [i for i, row in enumerate(rows) if row.request_type]
    kinds = [str(rows[i].request_type) for i in typed]
    request_type = _head(matrix[typed], kinds, plan.svm_c) if typed else None
    codes = tuple(sorted(category.classes))
    return LearnedModel(
        info=replace(info, codes=codes),
        featurizer=featurizer,
        category=category,
        request_type=request_type,
    )


def _head(matrix: object, labels: list[str], svm_c: float) -> LinearHead | None:
    """A calibrated linear SVM over the rows whose label has enough examples."""
    counts = Counter(labels)
    keep = [i for i, label in enumerate(labels) if counts[label] >= MIN_EXAMPLES]
    kept = Counter(labels[i] for i in keep)
    if len(kept) < 2:
        return None
    folds = min(FOLDS, min(kept.values()))
    model = CalibratedClassifierCV(
        LinearSVC(C=svm_c, random_state=SEED), method="sigmoid", cv=folds, ensemble=False
    )
    model.fit(matrix[keep], [labels[i] for i in keep])  # type: ignore[index]
    fitted = model.calibrated_classifiers_[0]
    svm = fitted.estimator
    return LinearHead(
        classes=tuple(str(c) for c in model.classes_),
        weights=np.ascontiguousarray(svm.coef_.T, dtype=np.float32),
        intercept=np.asarray(svm.intercept_, dtype=np.float32),
        sigmoid_a=np.array([c.a_ for c in fitted.calibrators], dtype=np.float32),
        sigmoid_b=np.array([c.b_ for c in fitted.calibrators], dtype=np.float32),
    )


def _category_threshold(model: LearnedModel, held: Sequence[Row]) -> float:
    """The lowest threshold at which the categories decided alone are right often enough."""
    if len(held) < MIN_TO_CHOOSE:
        return DEFAULT_THRESHOLD
    for threshold in GRID:
        sure = _sure(model, held, threshold)
        if sure and sum(sure) / len(sure) >= CATEGORY_PRECISION:
            return threshold
    return GRID[-1]


def _type_choice(
    model: LearnedModel, held: Sequence[Row], rules: Rules | None
) -> tuple[float, bool]:
    """(threshold, decides): the model decides types only when it beats the rules held back;
    below the threshold the rules decide, and the threshold is the one with fewest errors."""
    typed = [row for row in held if row.request_type]
    if model.request_type is None or rules is None or len(typed) < MIN_TO_CHOOSE:
        return 1.0, False
    head = model.request_type
    guesses: list[tuple[str, float, str, str]] = []
    for row in typed:
        indices, values = model.featurizer.vector(row.document)
        probabilities = head.probabilities(indices, values)
        best = int(probabilities.argmax())
        rule_type = rules(row.document)[1]
        label, probability = head.classes[best], float(probabilities[best])
        guesses.append((label, probability, rule_type, str(row.request_type)))
    rules_right = sum(rule == truth for _, _, rule, truth in guesses)
    best_threshold, best_right = 1.0, rules_right
    for threshold in GRID:
        right = sum(
            (label if p >= threshold else rule) == truth for label, p, rule, truth in guesses
        )
        if right > best_right:
            best_threshold, best_right = threshold, right
    return best_threshold, best_threshold < 1.0


def _confident(trial: LearnedModel, held: Sequence[Row], info: ModelInfo) -> dict[str, Any]:
    """How many held-back rows the trial model decides alone at the threshold, how well."""
    sure = _sure(trial, held, info.category_threshold)
    return {
        "category_threshold": info.category_threshold,
        "decided_alone": round(len(sure) / len(held), 3),
        "decided_alone_precision": round(sum(sure) / len(sure), 3) if sure else 0.0,
        "type_threshold": info.type_threshold,
        "decides_type": info.decides_type,
    }


def _sure(model: LearnedModel, held: Sequence[Row], threshold: float) -> list[bool]:
    """Right or wrong, for each held-back row the model decides alone at `threshold`."""
    scored = [(model.predict(row.document, words=0).categories[0], row.category) for row in held]
    return [best.label == truth for best, truth in scored if best.probability >= threshold]
