"""How a message begins counts for its type (感谢…, 建议…, 请问…), after greetings."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.triage import Triage
from intake.triage.catalogue import DATA_DIR, CataloguePaths, load_catalogue


@pytest.mark.parametrize(
    ("text", "label", "opener"),
    [
        ("谢谢街道的工作人员，帮我们家申请到了补助", "praise", "^谢谢"),
        ("您好，希望在菜市场门口多设几个停车位", "suggestion", "^希望"),
        ("你好！请问老年证在哪里办", "consultation", "^请问"),
    ],
)
def test_opening_words_add_their_type(triage: Triage, text: str, label: str, opener: str) -> None:
    decision = triage.assess(text)
    assert decision.request_type.label == label
    assert opener in decision.request_type.matched


def test_an_opening_word_later_in_the_text_is_only_a_keyword(triage: Triage) -> None:
    matched = triage.assess("路灯坏了好几天，希望尽快修好").request_type.matched
    assert not any(word.startswith("^") for word in matched)


def test_openings_must_name_request_types(tmp_path: Path) -> None:
    shipped = (DATA_DIR / "request_types.yaml").read_text(encoding="utf-8")
    edited = tmp_path / "types.yaml"
    edited.write_text(shipped.replace("  praise: [谢谢", "  gossip: [谢谢", 1), encoding="utf-8")
    assert "gossip" in edited.read_text(encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_catalogue(CataloguePaths().with_overrides(request_types=edited))
