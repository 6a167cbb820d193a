"""Regenerate the default triage model shipped in intake/triage/data/model/.

Trains on the project's own labelled letters only: the `train` split of
tests/fixtures/triage/corpus/*.jsonl (letters with "proposed_category" learn that category)
and tests/fixtures/triage/labelled.yaml. The corpus `test` split and heldout.yaml are never
read here. Run: `python bench/train_default_model.py [--version YYYYMMDD-HHMMSS]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.triage import Triage
from intake.triage.learned.dataset import Row, check_labels
from intake.triage.learned.evaluation import describe
from intake.triage.learned.files import save_model
from intake.triage.learned.source import SHIPPED
from intake.triage.learned.store import new_version
from intake.triage.learned.training import train

FIXTURES = ROOT / "tests" / "fixtures" / "triage"


def corpus_rows() -> list[Row]:
    rows: list[Row] = []
    for path in sorted((FIXTURES / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            letter = json.loads(line)
            if letter["split"] != "train":
                continue
            category = letter.get("proposed_category") or letter["category"]
            rows.append(
                Row(letter["text"], category, letter.get("title", ""), letter["request_type"])
            )
    return rows


def labelled_rows() -> list[Row]:
    items = yaml.safe_load((FIXTURES / "labelled.yaml").read_text(encoding="utf-8"))["items"]
    return [Row(item["text"], item["category"], "", item["type"]) for item in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", help="the model's version (default: now, UTC)")
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args()
    rules = Triage.load()
    rows = corpus_rows() + labelled_rows()
    codes = [c.code for c in rules.catalogue.categories.categories]
    check_labels(rows, [*codes, rules.catalogue.categories.fallback.code])

    def by_rules(text: str) -> tuple[str, str]:
        decision = rules.assess(text)
        return decision.category.label, decision.request_type.label

    model = train(rows, version=args.version or new_version(args.out.parent), rules=by_rules)
    if args.out.exists():
        shutil.rmtree(args.out)
    save_model(model, args.out)
    print(f"model {model.version} ({len(rows)} rows, sha256 {model.info.training_sha256[:12]})")
    print("\n".join(describe(model.info.figures)))


if __name__ == "__main__":
    main()
