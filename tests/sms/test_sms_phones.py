from __future__ import annotations

import pytest

from intake.domain.errors import InvalidInput
from intake.domain.phones import is_mainland_mobile
from intake.domain.phones import mask_phone as mask
from intake.domain.phones import normalize_phone as normalize


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+8613800138000",
        "008613800138000",
        "86-138-0013-8000",
        "8613800138000",
        " +86 138 0013 8000 ",
        "0086 138 0013 8000",
    ],
)
def test_normalize_mainland_forms(raw: str) -> None:
    assert normalize(raw) == "+8613800138000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+447911123456", "+447911123456"), ("010-12345678", "+861012345678")],
)
def test_normalize_other_numbers(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12345", "+86 1", "10086"])
def test_normalize_rejects(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalize(raw)


def test_lenient_accepts_possible_but_unknown_range() -> None:
    # 12345 (the hotline's own short number) is "possible" but not a valid subscriber number
    assert normalize("12345", strict=False) == "+8612345"


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+8613800138000", True),
        ("+8618612345678", True),
        ("+861012345678", False),  # Beijing landline
        ("+447911123456", False),  # UK mobile
        ("not a number", False),
    ],
)
def test_is_mainland_mobile(e164: str, expected: bool) -> None:
    assert is_mainland_mobile(e164) is expected


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("13812345678", "138****5678"),
        ("12345", "***45"),
        ("123", "***"),
    ],
)
def test_mask(phone: str, masked: str) -> None:
    assert mask(phone) == masked


def test_error_message_does_not_leak_the_number() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize("+86 138 0013 800099999")
    assert "0013 800099999" not in str(info.value)
