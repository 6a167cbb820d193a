"""Accuracy on the hand-labelled set (targets: type ≥ 90%, category ≥ 85%)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.triage import REQUEST_TYPES, Triage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "triage"
LABELLED = FIXTURES / "labelled.yaml"
HELD_OUT = FIXTURES / "heldout.yaml"


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


@pytest.mark.parametrize("split", ["holdout", "holdout2", "tune2"])
def test_later_splits_meet_the_targets_too(
    triage: Triage, items: list[dict[str, Any]], split: str
) -> None:
    """Splits written after the first rules; all of them are tuned on since session 2."""
    part = [item for item in items if item.get("split") == split]
    assert len(part) >= 40
    type_acc, cat_acc = _accuracy(triage, part)
    print(f"{split}: type accuracy {type_acc:.1%}, category accuracy {cat_acc:.1%}")
    assert type_acc >= 0.90
    assert cat_acc >= 0.85


def test_held_out_accuracy(triage: Triage) -> None:
    """heldout.yaml was written before looking at the rules and is never tuned on: the honest
    figure (measured 87.8% / 91.5% before session 2's tuning, 91.5% / 91.5% after)."""
    held_out = yaml.safe_load(HELD_OUT.read_text(encoding="utf-8"))["items"]
    assert len(held_out) >= 60
    labelled = {item["text"] for item in yaml.safe_load(LABELLED.read_text("utf-8"))["items"]}
    assert not labelled & {item["text"] for item in held_out}, "held-out text used for tuning"
    type_acc, cat_acc = _accuracy(triage, held_out)
    print(f"held out: type accuracy {type_acc:.1%}, category accuracy {cat_acc:.1%}")
    assert type_acc >= 0.90
    assert cat_acc >= 0.85


def test_labelled_districts_are_found(triage: Triage, items: list[dict[str, Any]]) -> None:
    placed = [item for item in items if item.get("district")]
    assert len(placed) >= 30
    found = sum(triage.assess(it["text"]).routing.district == it["district"] for it in placed)
    assert found / len(placed) >= 0.9


def test_labelled_set_triggers_no_emergency(triage: Triage, items: list[dict[str, Any]]) -> None:
    flagged = [it["text"] for it in items if triage.assess(it["text"]).emergency is not None]
    assert flagged == []
