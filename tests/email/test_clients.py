"""Mails from every client citizens use (tests/fixtures/email_clients): the handler reads
exactly what the citizen wrote, forwards keep their content, the subject is the title."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from channels.email.parse import parse_mail
from intake.domain.titles import ticket_title

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email_clients"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (FIXTURES / "expected.yaml").read_text(encoding="utf-8")
)
MAILBOX = "hotline@city.example.test"


def test_the_set_is_complete_and_large_enough() -> None:
    assert {p.name for p in FIXTURES.glob("*.eml")} == set(EXPECTED)
    assert len(EXPECTED) >= 80


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_client_mail(name: str) -> None:
    exp = EXPECTED[name]
    raw = (FIXTURES / name).read_bytes()
    msg = parse_mail(raw, mailbox_address=MAILBOX).message
    assert msg.raw == raw  # the whole mail stays available to staff
    assert msg.sender.value == exp["sender"]
    assert msg.text == exp["text"]
    if "title" in exp:
        assert ticket_title(msg.fields.get("title"), msg.text) == exp["title"]
    assert msg.fields.get("forwarded") == exp.get("forwarded")
    if "quote" in exp:
        assert msg.fields["quote"] == exp["quote"]
    if "display_name_contains" in exp:
        assert exp["display_name_contains"] in (msg.sender.display_name or "")
