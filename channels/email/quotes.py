"""The reply trimmer's short name, kept for callers that want only the text.

The rules live in `channels.email.reply`; this is the text-only view of `extract_reply`.
"""

from __future__ import annotations

from channels.email.reply import extract_reply, normalize_text

__all__ = ["normalize_text", "trim_reply"]


def trim_reply(text: str, *, subject: str = "") -> str:
    """What the sender wrote this time (quotes and signatures removed, forwards kept)."""
    return extract_reply(text, subject=subject).text
