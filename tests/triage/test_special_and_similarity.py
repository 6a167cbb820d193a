from __future__ import annotations

from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.triage import similar
from intake.triage.special_service import SpecialServiceList, normalise_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("hello", None),
    ],
)
def test_phone_normalisation(raw: str, e164: str | None) -> None:
    assert normalise_phone(raw) == e164


def test_special_list_recognises_phone_in_any_form(tmp_path: Path) -> None:
    path = tmp_path / "special.yaml"
    path.write_text(
        "entries:\n  - {phone: '+8613800138000', category: disabled, note: 听力残疾}\n"
        "  - {phone: '139 0000 0001', category: elderly-alone}\n",
        encoding="utf-8",
    )
    special = SpecialServiceList.load(path)
    assert len(special) == 2
    reason = special.is_special("138-0013-8000")
    assert reason is not None and "残疾人" in reason and "听力残疾" in reason
    assert special.is_special("+8613900000001") == "特服名单：独居老人"
    assert special.is_special("+8613700000000") is None
    assert special.is_special(None) is None


def test_shipped_special_list_is_valid_and_empty() -> None:
    assert len(SpecialServiceList.load()) == 0


def test_bad_phone_in_special_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "special.yaml"
    path.write_text("entries:\n  - {phone: 'abc', category: disabled}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        SpecialServiceList.load(path)


def test_similarity_ranks_repeats_above_unrelated() -> None:
    a = "东湖区桂花街道香樟苑小区停水了，已经一天了，请尽快恢复供水"
    repeat = "香樟苑小区还是停水，东湖区桂花街道这边一天没水了，快点恢复供水吧"
    other = "请问公积金贷款最高能贷多少钱？"
    assert similar(a, a) == 1.0
    assert similar(a, repeat) > 0.4
    assert similar(a, other) < 0.1
    assert similar(a, repeat) > similar(a, other)
    assert similar(a, repeat) == similar(repeat, a)
    assert similar("", a) == 0.0
