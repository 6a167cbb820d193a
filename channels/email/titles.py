"""An e-mail's subject as its ticket's title: without reply prefixes and our number tag.

`Re: 回复：转发: [2026112100042] 路灯不亮` is about 路灯不亮; a subject that is empty, only a
greeting or a client's placeholder (无主题, (no subject)) gives no title, and the core takes the
first meaningful sentence of the text instead.
"""

from __future__ import annotations

import re

from intake.domain.titles import is_greeting

_PREFIX = re.compile(
    r"^\s*(?:(?:Re|RE|Aw|AW|SV|VS|Antw|Fwd?|FW|TR|WG|RV|Rif|Odp|PD|"
    r"回复|回覆|答复|答覆|转发|轉寄|转寄|轉發|自动回复)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_TAG = re.compile(r"[\[【]\s*#?\s*\d{8,}\s*[\]】]|[\[【]\s*#\s*\d+\s*[\]】]")
_PLACEHOLDERS = frozenset(
    {"无主题", "無主題", "(no subject)", "no subject", "(无主题)", "（无主题）"}
)


def clean_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (repeated, in any order) and ticket tags."""
    text = " ".join(subject.split())
    for _ in range(5):
        before = text
        text = _TAG.sub(" ", _PREFIX.sub("", text)).strip()
        text = " ".join(text.split())
        if text == before:
            break
    return text


def title_of_subject(subject: str | None) -> str | None:
    """The ticket title a subject gives, or None when it gives none."""
    text = clean_subject(subject or "")
    if not text or text.lower() in _PLACEHOLDERS or is_greeting(text):
        return None
    return text[:200]
