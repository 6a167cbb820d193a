"""Reading a citizen's answer: a rating 1/2/3 or its words, a prompt code, the dimensions.

Pure functions. Full-width digits and letters are folded (NFKC) first, so "１" is "1".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from notifier.prompts import CODE_LENGTH, CODE_LETTERS

RATING_WORDS = (  # longest first: 不满意 and 基本满意 both contain 满意
    ("非常不满意", "unsatisfied"),
    ("不满意", "unsatisfied"),
    ("基本满意", "basic"),
    ("比较满意", "basic"),
    ("非常满意", "satisfied"),
    ("满意", "satisfied"),
    ("unsatisfied", "unsatisfied"),
    ("dissatisfied", "unsatisfied"),
    ("basically", "basic"),
    ("satisfied", "satisfied"),
)
DIGIT_RATING = {"1": "satisfied", "2": "basic", "3": "unsatisfied"}
SOLVED_WORDS = (
    ("未解决", False),
    ("没解决", False),
    ("没有解决", False),
    ("not solved", False),
    ("unsolved", False),
    ("已解决", True),
    ("解决了", True),
    ("solved", True),
)
_CODE = re.compile(rf"(?<![A-Za-z])[{CODE_LETTERS}]{{{CODE_LENGTH}}}(?![A-Za-z])", re.I)
_DIGIT = re.compile(r"(?<!\d)[123](?!\d)")


@dataclass(frozen=True)
class ParsedAnswer:
    rating: str | None = None
    solved: bool | None = None
    code: str | None = None
    dimensions: tuple[str, str, str] | None = None  # efficiency, attitude, result
    reason: str = ""


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def find_code(text: str) -> str | None:
    found = _CODE.search(fold(text))
    return found.group(0).upper() if found else None


def parse_rating(text: str) -> ParsedAnswer:
    folded = fold(text)
    code = find_code(folded)
    rest = _CODE.sub(" ", folded).lower() if code else folded.lower()
    solved = next((value for word, value in SOLVED_WORDS if word in rest), None)
    rating = next((value for word, value in RATING_WORDS if word in rest), None)
    if rating is None and (digit := _DIGIT.search(rest)):
        rating = DIGIT_RATING[digit.group(0)]
    return ParsedAnswer(rating=rating, solved=solved, code=code)


def parse_dimensions(text: str) -> ParsedAnswer:
    """'3 2 3 一直没人联系' → three ratings and the reason; fewer digits: just the reason."""
    folded = fold(text)
    code = find_code(folded)
    rest = _CODE.sub(" ", folded) if code else folded
    digits = re.match(r"\s*([123])[\s,，、/]*([123])[\s,，、/]*([123])(?!\d)", rest)
    if digits:
        dims = tuple(DIGIT_RATING[d] for d in digits.groups())
        reason = rest[digits.end() :].strip(" ,，。、:：")
        return ParsedAnswer(code=code, dimensions=(dims[0], dims[1], dims[2]), reason=reason)
    return ParsedAnswer(code=code, reason=rest.strip())
