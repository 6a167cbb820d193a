"""The figures of a model on labelled rows: accuracy, per-category precision and recall, the
main confusions, and the same accuracy for the keyword rules when they are given."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sklearn.metrics import precision_recall_fscore_support

from intake.triage.learned.dataset import Row
from intake.triage.learned.model import LearnedModel

# text → (category, request type) by the keyword rules alone, for comparison
Rules = Callable[[str], tuple[str, str]]
CONFUSIONS = 10


def evaluate(
    model: LearnedModel, rows: Sequence[Row], *, rules: Rules | None = None
) -> dict[str, Any]:
    truth = [row.category for row in rows]
    guessed = [model.category_of(row.document) for row in rows]
    figures: dict[str, Any] = {
        "rows": len(rows),
        "category_accuracy": _accuracy(truth, guessed),
        "per_category": _per_label(truth, guessed),
        "confusions": _confusions(truth, guessed),
    }
    typed = [row for row in rows if row.request_type]
    if typed and model.request_type is not None:
        kinds = [str(row.request_type) for row in typed]
        figures["type_accuracy"] = _accuracy(
            kinds, [model.type_of(r.document) or "" for r in typed]
        )
    if rules is not None:
        ruled = [rules(row.document) for row in rows]
        figures["rules_category_accuracy"] = _accuracy(truth, [c for c, _ in ruled])
        if typed:
            by_text = dict(zip((r.document for r in rows), ruled, strict=True))
            kinds = [str(row.request_type) for row in typed]
            figures["rules_type_accuracy"] = _accuracy(
                kinds, [by_text[r.document][1] for r in typed]
            )
    return figures


def _accuracy(truth: Sequence[str], guessed: Sequence[str]) -> float:
    return round(sum(a == b for a, b in zip(truth, guessed, strict=True)) / max(1, len(truth)), 4)


def _per_label(truth: Sequence[str], guessed: Sequence[str]) -> dict[str, dict[str, float]]:
    labels = sorted(set(truth) | set(guessed))
    precision, recall, _, support = precision_recall_fscore_support(
        truth, guessed, labels=labels, zero_division=0
    )
    return {
        label: {
            "precision": round(float(p), 3),
            "recall": round(float(r), 3),
            "support": int(s),
        }
        for label, p, r, s in zip(labels, precision, recall, support, strict=True)
    }


def _confusions(truth: Sequence[str], guessed: Sequence[str]) -> list[list[Any]]:
    """The most frequent (expected, predicted, count) mistakes."""
    pairs = Counter((a, b) for a, b in zip(truth, guessed, strict=True) if a != b)
    return [[a, b, n] for (a, b), n in pairs.most_common(CONFUSIONS)]


def describe(figures: dict[str, Any]) -> list[str]:
    """The figures as lines for a terminal."""
    lines = [f"rows: {figures.get('rows', 0)}"]
    lines.append(f"category accuracy: {figures.get('category_accuracy', 0):.1%}")
    if "rules_category_accuracy" in figures:
        lines.append(f"  keyword rules alone: {figures['rules_category_accuracy']:.1%}")
    if "type_accuracy" in figures:
        lines.append(f"request type accuracy: {figures['type_accuracy']:.1%}")
    if "rules_type_accuracy" in figures:
        lines.append(f"  keyword rules alone: {figures['rules_type_accuracy']:.1%}")
    if "decided_alone" in figures:
        lines.append(
            f"decided without an agent: {figures['decided_alone']:.1%} of rows at threshold "
            f"{figures['category_threshold']}, {figures['decided_alone_precision']:.1%} right"
        )
    lines.append("category precision recall support")
    for label, row in sorted((figures.get("per_category") or {}).items()):
        lines.append(
            f"  {label:<24} {row['precision']:>6.1%} {row['recall']:>6.1%} {row['support']:>4}"
        )
    confusions = figures.get("confusions") or []
    if confusions:
        lines.append("main confusions (expected → predicted: count)")
        lines.extend(f"  {a} → {b}: {n}" for a, b, n in confusions)
    return lines
