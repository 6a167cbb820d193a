"""SMS segment counting and fitting a reply into the configured number of segments.

Why count before sending: every segment is billed, a long reply that silently becomes five
SMS costs five times as much, and Kannel refuses anything beyond the sendsms-user's
`max-messages`. One SMS carries 140 octets: 160 GSM-7 characters or 70 UCS-2 code units;
concatenated parts lose 6 octets to the UDH, leaving 153 / 67. Any
character outside GSM-7 (every Chinese character, and the 【】 of the signature) forces UCS-2.
"""

from __future__ import annotations

import math
from enum import StrEnum

from intake.domain.errors import InvalidInput

# GSM 03.38 default alphabet (the escape 0x1B left out) and its extension table, whose
# characters are sent as ESC + char and so cost two septets.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def _gsm_parts(text: str) -> int:
    """Greedy packing into 153-septet parts: an ESC+char pair is never split across parts
    (Kannel and handsets move it whole to the next part), which can cost one more part."""
    parts, used = 1, 0
    for ch in text:
        width = 2 if ch in GSM_EXTENSION else 1
        if used + width > GSM_PART:
            parts, used = parts + 1, 0
        used += width
    return parts


def units(text: str) -> tuple[Encoding, int]:
    """Septets for GSM-7 text, UTF-16 code units (an emoji is 2) otherwise."""
    if is_gsm7(text):
        return Encoding.GSM7, sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
    return Encoding.UCS2, len(text.encode("utf-16-be")) // 2


def count_segments(text: str) -> tuple[Encoding, int]:
    """How many SMS `text` becomes (an empty text is still one SMS)."""
    encoding, n = units(text)
    if encoding is Encoding.GSM7:
        return encoding, 1 if n <= GSM_SINGLE else _gsm_parts(text)
    return encoding, 1 if n <= UCS2_SINGLE else math.ceil(n / UCS2_PART)


def signature_mark(signature: str) -> str:
    """`12345热线` or `【12345热线】` -> `【12345热线】`; blank -> ''."""
    sig = signature.strip().strip("【】").strip()
    return f"【{sig}】" if sig else ""


def _split(text: str, mark: str) -> tuple[str, str, str]:
    """(leading mark, body, trailing mark): the signature stays where it was, else leads."""
    if mark and text.startswith(mark):
        return mark, text[len(mark) :], ""
    if mark and text.endswith(mark):
        return "", text[: -len(mark)], mark
    return mark, text, ""


def add_signature(text: str, signature: str) -> str:
    """Prefix the hotline's 【signature】 unless it is already at the start or the end."""
    return "".join(_split(text, signature_mark(signature)))


def fit(text: str, max_segments: int, signature: str = "", *, truncate: bool = False) -> str:
    """The text to send: signed once and at most `max_segments` long.

    Too long raises `InvalidInput` by default: a government reply cut short can lose exactly
    the part that matters (a deadline, a ticket number), so the caller should pick a shorter
    template instead. With `truncate=True` the body (never the signature) is cut and ends with
    an ellipsis ("..." for GSM-7 text, "…" otherwise), for messages where a prefix still helps.
    """
    if max_segments < 1:
        raise InvalidInput("max_segments must be at least 1", field="max_segments")
    head, body, tail = _split(text, signature_mark(signature))
    signed = head + body + tail
    needed = count_segments(signed)[1]
    if needed <= max_segments:
        return signed
    if not truncate:
        msg = f"SMS needs {needed} segments, at most {max_segments} allowed"
        raise InvalidInput(msg, field="text")
    return _truncate(head, body, tail, max_segments)


def _truncate(head: str, body: str, tail: str, max_segments: int) -> str:
    """Binary search on the body length; segments never decrease as the body grows."""

    def build(n: int) -> str:
        cut = body[:n].rstrip()
        ellipsis = "..." if is_gsm7(head + cut + tail) else "…"
        return f"{head}{cut}{ellipsis}{tail}"

    lo, hi = 0, len(body)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_segments(build(mid))[1] <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    result = build(lo)
    if count_segments(result)[1] > max_segments:
        raise InvalidInput("the signature alone does not fit the segment limit", field="text")
    return result
