"""Pass rates of e-mail reply extraction on public reply-parsing test material.

Run: python -m bench.email_reply_bench   (prints one line per set; see
tests/fixtures/email_replies/README.md for the sources and the held-out rule)
"""

from __future__ import annotations

from tests.email.reply_corpus import TUNED, held_out, rate


def main() -> None:
    sets = {**TUNED, "held_out": held_out}
    total = passed = 0
    for name, cases in sets.items():
        outcomes = list(cases())
        total += len(outcomes)
        passed += sum(o.passed for o in outcomes)
        print(f"{name:20s} {rate(outcomes):6.1%}  ({len(outcomes)} cases)")
    print(f"{'all':20s} {passed / total:6.1%}  ({total} cases)")


if __name__ == "__main__":
    main()
