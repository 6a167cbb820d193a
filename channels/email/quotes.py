"""Trim quoted earlier mails and signatures from the text a handler reads.

A handler wants what the citizen wrote this time, not our own acknowledgement quoted back at the
bottom. We evaluated `mail-parser-reply`; its signature rules cut at any line starting with
"- word" or "/word", which would chop a citizen's list of complaints, and its Chinese rules miss
QQ/Foxmail's "原始邮件" separator and "发自我的iPhone". So this is a small, conservative,
line-based trimmer: it cuts only at well-known reply headers and sign-offs, drops ">" quoted
lines, and returns the untrimmed text when trimming would leave nothing (a bare forward).
The full original always stays in the message's `raw` bytes.
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(
    r"^\s*[-_=]{2,}\s*(?:原始邮件|原始郵件|Original Message|Forwarded message|转发邮件|"
    r"轉寄郵件|Ursprüngliche Nachricht)\s*[-_=]{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{20,}\s*$")
_HEADER_FIELD = re.compile(
    r"^\s*[*>\s]*(?:From|Sent|Date|To|Cc|Subject|发件人|發件人|发送时间|發送時間|时间|時間|日期|"
    r"收件人|抄送|主题|主題|主旨)\s*[*]*\s*[:：]",
    re.IGNORECASE,
)
_FROM_FIELD = re.compile(r"^\s*[*\s]*(?:From|发件人|發件人)\s*[*]*\s*[:：]", re.IGNORECASE)
_ON_WROTE = re.compile(r"^\s*On\s.{3,300}\swrote\s*:\s*$", re.IGNORECASE)
_ON_START = re.compile(r"^\s*On\s.*\d", re.IGNORECASE)
_WROTE_END = re.compile(r"wrote\s*:\s*$", re.IGNORECASE)
_ZH_WROTE = re.compile(
    r"^\s*(?:在|于|於)?.{0,200}(?:\d{4}\s*[年/.-]|<[^>]+@[^>]+>|\d{1,2}:\d{2}).{0,200}"
    r"(?:写道|寫道)\s*[:：]\s*$"
)
_SIG_DELIMITER = re.compile(r"^--\s?$")
_MOBILE_TAGLINE = re.compile(
    r"^\s*(?:发自我的|發自我的|从我的.{0,20}发送|來自我的|Sent from my |Sent from Mail for|"
    r"Get Outlook for|发自网易邮箱|发自.{0,10}邮箱|来自.{0,10}邮箱)",
    re.IGNORECASE,
)


def _is_header_block(lines: list[str], index: int) -> bool:
    """True when `lines[index]` starts an Outlook/Foxmail-style header block (From + 1 more)."""
    if not _FROM_FIELD.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()][:3]
    return any(_HEADER_FIELD.match(line) for line in following)


def _next_non_empty(lines: list[str], index: int) -> int | None:
    """Index of the next non-empty line after `index`, if any."""
    for j in range(index + 1, len(lines)):
        if lines[j].strip():
            return j
    return None


def _is_cut(lines: list[str], index: int) -> bool:
    """True when everything from `lines[index]` on is a quoted earlier mail or a signature."""
    line = lines[index]
    if _SEPARATOR.match(line) or _ON_WROTE.match(line) or _ZH_WROTE.match(line):
        return True
    if _SIG_DELIMITER.match(line) or _MOBILE_TAGLINE.match(line):
        return True
    if _ON_START.match(line) and any(_WROTE_END.search(x) for x in lines[index + 1 : index + 3]):
        return True  # Gmail wraps "On ..., Name <address> wrote:" over lines
    if _UNDERSCORES.match(line):
        after = _next_non_empty(lines, index)
        return after is not None and _is_header_block(lines, after)
    return _is_header_block(lines, index)


def normalize_text(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, no outer blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def trim_reply(text: str) -> str:
    """What the sender wrote this time: quoted replies and signatures removed (see module doc)."""
    lines = normalize_text(text).split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _is_cut(lines, index):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    trimmed = normalize_text("\n".join(kept))
    return trimmed or normalize_text(text)
