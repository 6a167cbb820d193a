"""Accuracy and speed of triage on every labelled split, and of the accept path's alarm.

Splits: tests/fixtures/triage/labelled.yaml (tuned on), heldout.yaml (never tuned on), and the
letters of tests/fixtures/triage/corpus/*.jsonl, split `train` (tuned and trained on) and
`test` (never tuned on). For each: category and request-type accuracy and, where the split
labels them, the decisions that act alone: the emergency redirect, the out-of-scope close
(不予受理) and the knowledge-base close (直接答复), with precision, recall and TP/FP/FN. The
ids of false positives and negatives are printed for the tuning splits only; for the splits
never tuned on only the figures are, so that nobody tunes on them.

Speed: letters of 300–500 characters triaged one after the other on one core (each call gets
a text of its own, so the engine's per-text cache never answers), with p50/p99 latency; and
the emergency check every accepted message goes through (`intake.triage.alarm`), with and
without its pre-check. Triage is loaded as the service loads it (with its learned model, if
any); `--rules-only` leaves the model out. Run: `python bench/triage_bench.py [--n 5000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.config import load_settings
from intake.domain.clock import utcnow
from intake.runtime import load_triage
from intake.triage import Triage, TriageDecision
from intake.triage.alarm import Alarm

FIXTURES = ROOT / "tests" / "fixtures" / "triage"
TARGET_RPS = 2000.0
TARGET_P99_MS = 5.0
MAX_IDS = 20
Assess = Callable[[str], TriageDecision]


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    category: str
    request_type: str
    also_right: frozenset[str] = frozenset()  # e.g. a proposed category the catalogue lacks
    # flag labels; None where the split does not label them
    emergency: bool | None = None
    emergency_number: str | None = None
    out_of_scope: bool | None = None
    kb_entry: str | None = None
    kb_labelled: bool = False


@dataclass(frozen=True)
class Split:
    name: str
    items: list[Item]
    tuned_on: bool  # ids of errors may be shown


def letter_text(title: str, text: str) -> str:
    """What triage reads of a letter: the title, then the body (as the learned model does)."""
    return f"{title}。{text}" if title else text


def load_yaml(path: Path) -> list[Item]:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    return [
        Item(f"{path.stem}-{i + 1}", it["text"], it["category"], it["type"])
        for i, it in enumerate(items)
    ]


def load_corpus(split: str) -> list[Item]:
    items = []
    for path in sorted((FIXTURES / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)
            if raw["split"] != split:
                continue
            proposed = raw.get("proposed_category")
            items.append(
                Item(
                    id=raw["id"],
                    text=letter_text(raw.get("title") or "", raw["text"]),
                    category=raw["category"],
                    request_type=raw["request_type"],
                    also_right=frozenset({proposed}) if proposed else frozenset(),
                    emergency=bool(raw["emergency"]),
                    emergency_number=raw.get("emergency_number"),
                    out_of_scope=bool(raw["out_of_scope"]),
                    kb_entry=raw.get("kb_entry"),
                    kb_labelled=True,
                )
            )
    return items


def splits() -> list[Split]:
    return [
        Split("labelled.yaml (tuned on)", load_yaml(FIXTURES / "labelled.yaml"), True),
        Split("heldout.yaml (never tuned on)", load_yaml(FIXTURES / "heldout.yaml"), False),
        Split("corpus train (tuned and trained on)", load_corpus("train"), True),
        Split("corpus test (never tuned on)", load_corpus("test"), False),
    ]


@dataclass
class Flag:
    """Counts for one decision that acts alone; ids of the items behind each error."""

    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    fp_ids: list[str] = field(default_factory=list)
    fn_ids: list[str] = field(default_factory=list)
    note: Counter[str] = field(default_factory=Counter)

    def count(self, item_id: str, *, predicted: bool, right: bool, gold: bool) -> None:
        """`right`: the prediction is the labelled one (the same entry, the same number)."""
        if predicted and right:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.fp_ids.append(item_id)
        if gold and not (predicted and right):
            self.fn += 1
            self.fn_ids.append(item_id)

    def figures(self) -> str:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")
        return (
            f"precision {precision:6.1%}  recall {recall:6.1%}  "
            f"(TP {self.tp}, FP {self.fp}, FN {self.fn})"
        )


def evaluate(split: Split, assess: Assess) -> None:
    items = split.items
    decisions = [assess(item.text) for item in items]
    pairs = list(zip(items, decisions, strict=True))
    category = sum(
        d.category.label == it.category or d.category.label in it.also_right for it, d in pairs
    )
    kind = sum(d.request_type.label == it.request_type for it, d in pairs)
    print(f"\n== {split.name}: {len(items)} messages")
    print(f"  category accuracy     {category / len(items):6.1%}  ({category}/{len(items)})")
    print(f"  request-type accuracy {kind / len(items):6.1%}  ({kind}/{len(items)})")
    flags = _flags(pairs)
    if flags is None:
        raised = Counter(
            name
            for _, d in pairs
            for name, on in (
                ("emergency", d.emergency is not None),
                ("out-of-scope close", d.out_of_scope is not None),
                ("KB close", _kb_close(d) is not None),
            )
            if on
        )
        print(f"  flags are not labelled here; raised: {dict(raised) or 'none'}")
        return
    for flag in flags:
        print(f"  {flag.name:19} {flag.figures()}")
        if flag.note:
            print(f"  {'':19} {', '.join(f'{k} {v}' for k, v in flag.note.items())}")
        if split.tuned_on:
            _ids("false positives", flag.fp_ids)
            _ids("missed", flag.fn_ids)
    if split.tuned_on:
        wrong = [
            it.id for it, d in pairs if d.category.label not in ({it.category} | it.also_right)
        ]
        _ids("category wrong", wrong)


def _flags(pairs: list[tuple[Item, TriageDecision]]) -> list[Flag] | None:
    if not pairs or pairs[0][0].emergency is None:
        return None
    emergency, out, kb = Flag("emergency"), Flag("out-of-scope close"), Flag("KB close")
    for item, d in pairs:
        hit = d.emergency
        number_right = hit is not None and hit.service == (item.emergency_number or hit.service)
        if hit is not None and item.emergency and not number_right:
            emergency.note["wrong number"] += 1
        emergency.count(
            item.id,
            predicted=hit is not None,
            right=bool(item.emergency) and number_right,
            gold=bool(item.emergency),
        )
        out.count(
            item.id,
            predicted=d.out_of_scope is not None,
            right=bool(item.out_of_scope),
            gold=bool(item.out_of_scope),
        )
        closed = _kb_close(d)
        if closed is not None and item.kb_entry and closed != item.kb_entry:
            kb.note["another entry"] += 1
        kb.count(
            item.id,
            predicted=closed is not None,
            right=closed == item.kb_entry,
            gold=item.kb_entry is not None,
        )
    return [emergency, out, kb]


def _kb_close(decision: TriageDecision) -> str | None:
    """The entry the pipeline closes the ticket with (`pipeline.triage_steps`), if any."""
    if decision.out_of_scope is None and decision.direct_answer and decision.kb_answer:
        return decision.kb_answer.entry_id
    return None


def _ids(what: str, ids: list[str]) -> None:
    if ids:
        more = f" … and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else ""
        print(f"  {'':19} {what}: {' '.join(ids[:MAX_IDS])}{more}")


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def timed(call: Callable[[str], object], texts: Iterable[str]) -> list[float]:
    """Each call's latency in microseconds."""
    clock, latencies = time.perf_counter, []
    for text in texts:
        start = clock()
        call(text)
        latencies.append((clock() - start) * 1e6)
    return latencies


def speed(assess: Assess, letters: list[str], n: int) -> None:
    for text in letters:  # warm-up: jieba's lazy structures, CPU caches
        assess(text)
    texts = [f"{letters[i % len(letters)]}{i}" for i in range(n)]  # one text per call
    start = time.perf_counter()
    latencies = sorted(timed(assess, texts))
    rps = n / (time.perf_counter() - start)
    p99_ms = percentile(latencies, 0.99) / 1000
    print(f"\n== speed: {n} letters of 300–500 characters ({len(letters)} distinct), one core")
    print(f"  {rps:,.0f} letters/s (target {TARGET_RPS:,.0f}: {rps / TARGET_RPS:.2f}×)")
    print(
        f"  latency per letter: mean {statistics.fmean(latencies) / 1000:.2f} ms, "
        f"p50 {percentile(latencies, 0.5) / 1000:.2f} ms, p99 {p99_ms:.2f} ms "
        f"(target < {TARGET_P99_MS:.0f} ms), max {latencies[-1] / 1000:.2f} ms"
    )


def alarm_cost(triage: Triage, letters: list[str], short: list[str], n: int) -> None:
    """The accept path's emergency check per message, with its pre-check and without."""
    alarm = Alarm(triage)
    print("\n== accept-time emergency check (intake.triage.alarm), µs per message")
    for label, texts in (("letters 300–500 chars", letters), ("short messages", short)):
        unique = [f"{texts[i % len(texts)]}{i}" for i in range(n)]
        plain = [t for t in unique if not alarm.may_match(t)]
        with_check = sorted(timed(alarm.check, unique))
        without = sorted(timed(triage.emergency, [f"{t}#" for t in unique]))
        skipped = sorted(timed(alarm.check, plain)) if plain else [0.0]
        mean, p99 = statistics.fmean(with_check), percentile(with_check, 0.99)
        print(
            f"  {label:22} with pre-check mean {mean:6.1f} (p99 {p99:6.1f}); "
            f"no keyword {statistics.fmean(skipped):5.1f} ({len(plain)}/{n}); "
            f"guard alone mean {statistics.fmean(without):6.1f}"
        )


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="letters to time")
    parser.add_argument("--rules-only", action="store_true", help="without the learned model")
    args = parser.parse_args(argv)
    pin_one_core()
    with tempfile.TemporaryDirectory() as data_dir:
        return run(args.n, rules_only=args.rules_only, data_dir=Path(data_dir))


def load(*, rules_only: bool, data_dir: Path) -> Triage:
    """Triage as the service loads it (with the learned model it uses, if any)."""
    if rules_only:
        return Triage.load()
    kit = load_triage(load_settings(data_dir=data_dir), utcnow())
    return kit.triage if kit is not None else Triage.load()


def run(n: int, *, rules_only: bool, data_dir: Path) -> int:
    started = time.perf_counter()
    triage = load(rules_only=rules_only, data_dir=data_dir)
    what = "rules only" if rules_only else "as the service loads it"
    print(f"triage loaded ({what}) in {time.perf_counter() - started:.2f} s, once per process")
    assess = triage.assess
    all_splits = splits()
    for split in all_splits:
        evaluate(split, assess)
    letters = [
        item.text
        for split in all_splits
        for item in split.items
        if split.name.startswith("corpus") and 300 <= len(item.text) <= 500
    ]
    speed(assess, letters, n)
    short = [item.text for item in all_splits[1].items]
    alarm_cost(triage, letters, short, min(n, 2000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
