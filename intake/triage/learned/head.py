"""One calibrated linear classifier as plain arrays: scores, probabilities and the reasons.

A linear SVM's scores pass through per-class sigmoids fitted on held-out folds
(scikit-learn's `CalibratedClassifierCV`, method "sigmoid"), then are normalised to sum to one:
what `predict_proba` does, recomputed here so that run time needs numpy only. A two-class
model has one score column (the second class's); its probability is the sigmoid's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from intake.triage.models import Candidate


@dataclass(frozen=True)
class LinearHead:
    """weights (n_features, n_columns), intercept (n_columns,), sigmoid a and b per column."""

    classes: tuple[str, ...]
    weights: np.ndarray
    intercept: np.ndarray
    sigmoid_a: np.ndarray
    sigmoid_b: np.ndarray

    def probabilities(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self._calibrated(values @ self.weights.take(indices, axis=0))

    def _calibrated(self, products: np.ndarray) -> np.ndarray:
        scores = products + self.intercept
        calibrated = 1.0 / (1.0 + np.exp(self.sigmoid_a * scores + self.sigmoid_b))
        if len(self.classes) == 2:
            return np.array([1.0 - calibrated[0], calibrated[0]])
        total = float(calibrated.sum())
        if total <= 0:
            return np.full(len(self.classes), 1.0 / len(self.classes))
        return calibrated / total

    def ranked(
        self,
        indices: np.ndarray,
        values: np.ndarray,
        terms: list[str],
        *,
        top: int = 3,
        words: int = 5,
        sure: float = 0.0,
    ) -> list[Candidate]:
        """The `top` likeliest labels with the `words` features adding most to their score:
        for the first always, for the others only when the first is below `sure`."""
        rows = self.weights.take(indices, axis=0)  # the letter's features' weights, once
        probabilities = self._calibrated(values @ rows)
        order = np.argsort(-probabilities)[:top]
        explain_all = bool(probabilities[order[0]] < sure)
        return [
            Candidate(
                self.classes[k],
                float(probabilities[k]),
                self._reasons(
                    int(k), indices, values, rows, terms, words if i == 0 or explain_all else 0
                ),
            )
            for i, k in enumerate(order)
        ]

    def _reasons(
        self,
        k: int,
        indices: np.ndarray,
        values: np.ndarray,
        rows: np.ndarray,
        terms: list[str],
        count: int,
    ) -> tuple[str, ...]:
        if not len(indices) or not count:
            return ()
        if len(self.classes) == 2:
            sign = 1.0 if k == 1 else -1.0
            contributions = sign * values * rows[:, 0]
        else:
            contributions = values * rows[:, k]
        best = _largest(contributions, count * 3)
        chosen = [terms[indices[i]] for i in best if contributions[i] > 0]
        return tuple(_without_nested(chosen)[:count])


def _largest(values: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` largest values, largest first (a partial sort: a letter has
    hundreds of features and only a handful are wanted)."""
    if values.size > count:
        part = np.argpartition(-values, count)[:count]
        return part[np.argsort(-values[part])]
    return np.argsort(-values)


def _without_nested(terms: list[str]) -> list[str]:
    """Drop a term inside another chosen one ("保" beside "医保"), keeping the longer."""
    inside = {
        other[i:j]
        for other in terms
        for i in range(len(other))
        for j in range(i + 1, len(other) + 1)
        if j - i < len(other)
    }
    return [t for t in terms if t not in inside]
