"""Pass rates of our reply extraction on public reply-parsing test material.

The sets the rules were tuned on must pass in full; the held-out set (never looked at case by
case) is scored as a whole. Each rate is printed so `pytest -s` shows it.
"""

from __future__ import annotations

import pytest

from channels.email.parse import parse_mail
from tests.email.reply_corpus import MAILBOX, ROOT, TUNED, held_out, rate


@pytest.mark.parametrize("name", sorted(TUNED))
def test_tuned_set_passes(name: str) -> None:
    outcomes = list(TUNED[name]())
    failed = [(o.case, o.got, o.want) for o in outcomes if not o.passed]
    print(f"{name}: {rate(outcomes):.1%} of {len(outcomes)}")
    assert len(outcomes) >= 9
    assert not failed


def test_held_out_set_rate() -> None:
    outcomes = list(held_out())
    print(f"held out: {rate(outcomes):.1%} of {len(outcomes)}")
    assert len(outcomes) >= 2
    assert rate(outcomes) >= 0.5


def test_no_real_mail_crashes_or_loses_its_sender() -> None:
    paths = sorted((ROOT / "talon_standard").glob("*.eml"))
    assert len(paths) >= 10
    for path in paths:
        message = parse_mail(path.read_bytes(), mailbox_address=MAILBOX).message
        assert "@" in message.sender.value, path.name
        assert message.text.strip(), path.name
