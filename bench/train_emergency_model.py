"""Regenerate the learned emergency model shipped in intake/triage/data/emergency_model/.

Trains on the `train` split of tests/fixtures/triage/corpus/*.jsonl (each letter's
`emergency` and `emergency_number`) and, as messages that are no emergency, the short requests
of tests/fixtures/triage/labelled.yaml (a burst pipe, a power cut: urgent, yet for a
department, not for 110/119/120/122); the `test` split and heldout.yaml are never read.
`--hold-out FILE` leaves one corpus file out and reports, on it, the precision and recall of
the keyword guard alone and of the guard with the model at each threshold, so that a threshold
is chosen on letters the model never saw. Run: `python bench/train_emergency_model.py
[--hold-out emergency_dev.jsonl] [--threshold 0.4] [--out FOLDER]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.triage import Triage
from intake.triage.catalogue import CataloguePaths
from intake.triage.learned.emergency import (
    DEFAULT_THRESHOLD,
    EmergencyModel,
    save_emergency_model,
    train_emergency,
)
from intake.triage.learned.store import new_version

FIXTURES = ROOT / "tests" / "fixtures" / "triage"
CORPUS = FIXTURES / "corpus"
SHIPPED = CataloguePaths().emergency_model
GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)

Letter = tuple[str, str, str | None]  # (file, text as triage reads it, number or None)


def letters(*, skip: str | None = None, only: str | None = None) -> list[Letter]:
    found: list[Letter] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        if path.name == skip or (only is not None and path.name != only):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            if raw["split"] != "train":
                continue
            title, text = raw.get("title") or "", raw["text"]
            document = f"{title}。{text}" if title else text
            number = raw.get("emergency_number") if raw["emergency"] else None
            found.append((path.name, document, number))
    return found


def routine_requests() -> list[Letter]:
    items = yaml.safe_load((FIXTURES / "labelled.yaml").read_text(encoding="utf-8"))["items"]
    return [("labelled.yaml", item["text"], None) for item in items]


def figures(triage: Triage, held: list[Letter]) -> str:
    tp = fp = wrong = 0
    for _, text, number in held:
        hit = triage.emergency(text)
        if hit is not None and number is not None:
            tp += 1
            wrong += hit.service != number
        elif hit is not None:
            fp += 1
    gold = sum(number is not None for _, _, number in held)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / gold if gold else 0.0
    counts = f"TP {tp}, FP {fp}, FN {gold - tp}, wrong number {wrong}"
    return f"precision {precision:6.1%}  recall {recall:6.1%}  ({counts})"


def hold_out(name: str, version: str) -> None:
    held = letters(only=name)
    if not held:
        raise SystemExit(f"no train letters in {name}")
    training = letters(skip=name) + routine_requests()
    model = train_emergency([(t, n) for _, t, n in training], version=version)
    print(
        f"held out {name}: {len(held)} letters, {sum(n is not None for *_, n in held)} emergencies"
    )
    print(f"  keywords alone        {figures(Triage.load(emergency_model='/nonexistent'), held)}")
    with tempfile.TemporaryDirectory() as folder:
        for threshold in GRID:
            info = replace(model.model.info, category_threshold=threshold)
            save_emergency_model(EmergencyModel(replace(model.model, info=info)), Path(folder))
            triage = Triage.load(emergency_model=folder)
            print(f"  with model at {threshold:.1f}    {figures(triage, held)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hold-out", help="a corpus file to measure on instead of training")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--version", help="the model's version (default: now, UTC)")
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args()
    version = args.version or new_version(args.out.parent)
    if args.hold_out:
        hold_out(args.hold_out, version)
        return
    rows = [(text, number) for _, text, number in letters() + routine_requests()]
    model = train_emergency(rows, version=version, threshold=args.threshold)
    if args.out.exists():
        shutil.rmtree(args.out)
    save_emergency_model(model, args.out)
    emergencies = sum(number is not None for _, number in rows)
    print(f"emergency model {model.version}: {len(rows)} letters, {emergencies} emergencies")


if __name__ == "__main__":
    main()
