from __future__ import annotations

import pytest

from channels.sms.segments import Encoding, count_segments, fit
from intake.domain.errors import InvalidInput

G, U = Encoding.GSM7, Encoding.UCS2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (G, 1)),
        ("A" * 160, (G, 1)),
        ("A" * 161, (G, 2)),
        ("A" * 306, (G, 2)),
        ("A" * 307, (G, 3)),
        ("€" * 80, (G, 1)),  # extension chars count 2: 160 septets
        ("€" * 80 + "A", (G, 2)),
        ("{}[]~\\|^" * 10, (G, 1)),  # 80 chars, 160 septets
        ("A" * 152 + "€" + "A" * 152, (G, 3)),  # ESC pair never split: 152 | 153 | 1
        ("路" * 70, (U, 1)),
        ("路" * 71, (U, 2)),
        ("路" * 134, (U, 2)),
        ("路" * 135, (U, 3)),
        ("A" * 69 + "路", (U, 1)),
        ("😀" * 35, (U, 1)),  # an emoji is two UTF-16 code units
        ("😀" * 35 + "a", (U, 2)),
        ("Hello\nworld @£$¥", (G, 1)),
        ("Ça va? ç", (U, 1)),  # lower-case ç is not in GSM-7
    ],
)
def test_count_segments(text: str, expected: tuple[Encoding, int]) -> None:
    assert count_segments(text) == expected


@pytest.mark.parametrize(
    ("text", "signature", "expected"),
    [
        ("您的工单已受理", "12345热线", "【12345热线】您的工单已受理"),
        ("您的工单已受理", "【12345热线】", "【12345热线】您的工单已受理"),
        ("【12345热线】您的工单已受理", "12345热线", "【12345热线】您的工单已受理"),
        ("您的工单已受理【12345热线】", "12345热线", "您的工单已受理【12345热线】"),
        ("您的工单已受理", "", "您的工单已受理"),
        ("【别的】您好", "12345热线", "【12345热线】【别的】您好"),
    ],
)
def test_signature_added_exactly_once(text: str, signature: str, expected: str) -> None:
    assert fit(text, 3, signature) == expected
    assert fit(fit(text, 3, signature), 3, signature) == expected  # idempotent


def test_fit_raises_when_too_long_by_default() -> None:
    with pytest.raises(InvalidInput):
        fit("路" * 200, 2, "12345热线")


def test_fit_exact_boundary() -> None:
    sig = "12345热线"  # 【12345热线】 is 9 UTF-16 units
    assert count_segments(fit("路" * 61, 1, sig)) == (U, 1)  # 70 units
    with pytest.raises(InvalidInput):
        fit("路" * 62, 1, sig)  # 71 units


def test_fit_truncates_body_and_keeps_signature() -> None:
    out = fit("路" * 300, 2, "12345热线", truncate=True)
    assert out.startswith("【12345热线】") and out.endswith("…")
    assert count_segments(out) == (U, 2)
    assert len(out.encode("utf-16-be")) // 2 == 134  # filled to the limit


def test_fit_truncates_gsm_with_ascii_ellipsis() -> None:
    out = fit("word " * 100, 1, truncate=True)
    assert out.endswith("...") and count_segments(out) == (G, 1)


def test_fit_truncation_keeps_trailing_signature() -> None:
    out = fit("路" * 300 + "【12345热线】", 1, "12345热线", truncate=True)
    assert out.endswith("…【12345热线】") and count_segments(out)[1] == 1
