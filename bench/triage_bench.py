"""Benchmark and accuracy report for the triage library (issue 7).

Runs the whole triage (`Triage.assess`) on 10,000 requests, cycling the hand-labelled set in
tests/fixtures/triage/labelled.yaml, and prints throughput, per-request latency (p50/p99), the
accuracy of request type, category and district on the labelled (tuning) set and on the
held-out set (heldout.yaml, never tuned on), the confusion tables, and the ratio to the 2,000
requests/s target. Run: `python bench/triage_bench.py [--n 10000]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.triage import REQUEST_TYPES, Triage, TriageDecision

LABELLED = ROOT / "tests" / "fixtures" / "triage" / "labelled.yaml"
HELD_OUT = ROOT / "tests" / "fixtures" / "triage" / "heldout.yaml"
TARGET_RPS = 2000.0


def load_items(path: Path = LABELLED) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["items"])


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_throughput(triage: Triage, texts: list[str], n: int) -> tuple[float, list[float]]:
    """Wall time for n requests and each request's latency in microseconds."""
    latencies: list[float] = []
    clock = time.perf_counter
    start = clock()
    for i in range(n):
        t0 = clock()
        triage.assess(texts[i % len(texts)])
        latencies.append((clock() - t0) * 1e6)
    return clock() - start, latencies


def evaluate(triage: Triage, items: list[dict[str, Any]]) -> dict[str, Any]:
    decisions: list[TriageDecision] = [triage.assess(item["text"]) for item in items]
    type_pairs = [
        (it["type"], d.request_type.label) for it, d in zip(items, decisions, strict=True)
    ]
    cat_pairs = [(it["category"], d.category.label) for it, d in zip(items, decisions, strict=True)]
    placed = [
        (it["district"], d.routing.district)
        for it, d in zip(items, decisions, strict=True)
        if it.get("district")
    ]
    auto = [(it, d) for it, d in zip(items, decisions, strict=True) if not d.needs_human]
    return {
        "n": len(items),
        "type_acc": sum(a == b for a, b in type_pairs) / len(items),
        "cat_acc": sum(a == b for a, b in cat_pairs) / len(items),
        "district_acc": sum(a == b for a, b in placed) / max(1, len(placed)),
        "n_district": len(placed),
        "type_pairs": type_pairs,
        "cat_pairs": cat_pairs,
        "needs_human": sum(d.needs_human for d in decisions),
        "auto": len(auto),
        "auto_acc": sum(it["category"] == d.category.label for it, d in auto) / max(1, len(auto)),
        "kb": sum(d.kb_answer is not None for d in decisions),
        "emergency": sum(d.emergency is not None for d in decisions),
        "out_of_scope": sum(d.out_of_scope is not None for d in decisions),
    }


def print_type_confusion(pairs: list[tuple[str, str]]) -> None:
    counts = Counter(pairs)
    width = 13
    print("\nrequest-type confusion (rows: labelled, columns: predicted)")
    print(" " * width + "".join(t[: width - 1].rjust(width) for t in REQUEST_TYPES))
    for gold in REQUEST_TYPES:
        row = "".join(str(counts.get((gold, pred), 0)).rjust(width) for pred in REQUEST_TYPES)
        print(gold.ljust(width) + row)


def print_category_confusion(pairs: list[tuple[str, str]]) -> None:
    totals = Counter(gold for gold, _ in pairs)
    correct = Counter(gold for gold, pred in pairs if gold == pred)
    errors = Counter((gold, pred) for gold, pred in pairs if gold != pred)
    print("\ncategory accuracy per label (correct/total) and its confusions")
    for gold in sorted(totals, key=lambda g: correct[g] / totals[g]):
        wrong = ", ".join(f"{p}×{c}" for (g, p), c in errors.most_common() if g == gold)
        print(f"  {gold:24} {correct[gold]:3}/{totals[gold]:<3} {wrong}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="requests to triage")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    triage = Triage.load()
    print(f"Triage.load(): {time.perf_counter() - t0:.2f} s (jieba + catalogues, once per process)")
    items = load_items()
    texts = [item["text"] for item in items]
    for text in texts:  # warm-up: jieba's lazy structures, CPU caches
        triage.assess(text)
    elapsed, latencies = run_throughput(triage, texts, args.n)
    latencies.sort()
    rps = args.n / elapsed
    print(f"\n{args.n} requests in {elapsed:.3f} s on one core: {rps:,.0f} requests/s")
    print(
        f"latency per request: mean {statistics.fmean(latencies):.0f} µs, "
        f"p50 {percentile(latencies, 0.50):.0f} µs, p99 {percentile(latencies, 0.99):.0f} µs, "
        f"max {latencies[-1]:.0f} µs"
    )
    print(f"ratio to the {TARGET_RPS:,.0f} requests/s target: {rps / TARGET_RPS:.2f}×")
    report = evaluate(triage, items)
    n = report["n"]
    print(f"\nlabelled set: {n} requests ({LABELLED.relative_to(ROOT)})")
    print(f"request type accuracy: {report['type_acc']:.1%} (target ≥ 90%)")
    print(f"category accuracy:     {report['cat_acc']:.1%} (target ≥ 85%)")
    notes = {
        "holdout": "written after the first rules, then used for tuning",
        "holdout2": "written after session 1's tuning, tuned on in session 2",
        "tune2": "written in session 2 to tune on",
    }
    for split, note in notes.items():
        part_items = [item for item in items if item.get("split") == split]
        if part_items:
            part = evaluate(triage, part_items)
            print(
                f"  split {split} ({part['n']} requests, {note}): "
                f"type {part['type_acc']:.1%}, category {part['cat_acc']:.1%}, "
                f"automated {part['auto']}/{part['n']} with category right {part['auto_acc']:.1%}"
            )
    held_out = evaluate(triage, load_items(HELD_OUT))
    print(
        f"held-out set ({held_out['n']} requests, {HELD_OUT.relative_to(ROOT)}, never tuned on): "
        f"type {held_out['type_acc']:.1%}, category {held_out['cat_acc']:.1%}, "
        f"automated {held_out['auto']}/{held_out['n']} with category right "
        f"{held_out['auto_acc']:.1%}"
    )
    print(f"district accuracy:     {report['district_acc']:.1%} of {report['n_district']} placed")
    print(
        f"needs human: {report['needs_human']}, KB direct answers: {report['kb']}, "
        f"emergency: {report['emergency']}, out of scope: {report['out_of_scope']}"
    )
    print_type_confusion(report["type_pairs"])
    print_category_confusion(report["cat_pairs"])
    print("\nheld-out set:", end="")
    print_type_confusion(held_out["type_pairs"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
