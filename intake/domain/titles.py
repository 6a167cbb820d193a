"""A ticket's title: what the request is about, never a greeting.

Citizens open with a salutation (您好, 尊敬的领导：, Dear Sir), so the first line of a message
is a poor title: thousands of tickets would share a dozen titles. A title a channel already
has (an e-mail's subject, a form's title field) is used unless it is itself only a greeting;
otherwise the first meaningful sentence of the text, after any leading greetings.
"""

from __future__ import annotations

import re

NO_TEXT = "（无文字内容）"
MAX_LENGTH = 60
_SEP = r"[，,。.！!：:~～、\s]*"
_LEADING = re.compile(
    r"^\s*(?:"
    r"(?:尊敬的|敬爱的|亲爱的|各位)[^，,。！!：:\n]{0,12}" + _SEP + "|"
    r"[^，,。！!：:\n]{0,10}(?:您们?好|你们?好|们好)" + _SEP + "|"
    r"(?:大家好|领导好|老师好|早上好|上午好|中午好|下午好|晚上好|在吗|打扰了|打扰一下|"
    r"麻烦(?:您|你)了?|不好意思|hello|hi|hey|good (?:morning|afternoon|evening)|greetings|"
    r"dear\b[^,，\n]{0,40}|to whom it may concern)" + _SEP + "|"
    r"[^，,。！!：:\n]{1,12}[：:]\s*\n"  # a salutation line such as "12345热线："
    r")",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[。！？!?\n；;]")
# a mainland mobile number or an 18-digit ID number typed into the text: a title is shown in
# lists and staff alerts, which never need them
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![\dXx])(\d{6})\d{8}(\d{3}[\dXx])(?![\dXx])")
_MEANINGFUL = re.compile(r"\w")


def _without_greetings(text: str) -> str:
    for _ in range(5):
        found = _LEADING.match(text)
        if found is None or not found.group(0):
            break
        text = text[found.end() :]
    return text.strip()


def is_greeting(text: str) -> bool:
    """True when `text` has nothing left once its greetings are taken away."""
    return len(_MEANINGFUL.findall(_without_greetings(text))) < 2


def title_from(text: str) -> str:
    """The first meaningful sentence of `text` (greetings skipped), at most 60 characters."""
    rest = _without_greetings(text)
    for sentence in _SENTENCE_END.split(rest):
        sentence = sentence.strip(" \t，,：:")
        if len(_MEANINGFUL.findall(sentence)) >= 2:
            return sentence[:MAX_LENGTH]
    return text.strip()[:MAX_LENGTH] or NO_TEXT


def ticket_title(given: str | None, text: str) -> str:
    """`given` (a subject, a form's title) unless it is empty or a greeting, else from text;
    phone and ID numbers in it masked."""
    if given and given.strip() and not is_greeting(given):
        return masked(given.strip()[:200])
    return masked(title_from(text))


def masked(title: str) -> str:
    return _ID_NUMBER.sub(r"\1********\2", _PHONE.sub(r"\1****\2", title))
