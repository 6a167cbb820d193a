"""A small labelled training set for the learned-model tests, taken from labelled.yaml."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from intake.triage.learned.dataset import Row

LABELLED = Path(__file__).resolve().parent.parent / "fixtures" / "triage" / "labelled.yaml"
CATEGORIES = ("water-supply", "noise", "cooking-fumes", "housing-fund", "social-insurance")


def small_rows() -> list[Row]:
    items = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["items"]
    return [
        Row(i["text"], i["category"], "", i["type"]) for i in items if i["category"] in CATEGORIES
    ]


def write_csv(path: Path, rows: list[Row]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "text", "category", "request_type"])
        for row in rows:
            writer.writerow([row.title, row.text, row.category, row.request_type or ""])
    return path
