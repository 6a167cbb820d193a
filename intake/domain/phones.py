"""Phone numbers: one canonical form (E.164) for storage and matching, masked for logs and lists.

A number typed on the web form as `138 0013 8000`, given by Kannel as `+8613800138000` or by an
operator's SMSC as `008613800138000` must all become `+8613800138000`, otherwise a citizen who
writes by SMS would not be linked to the one who gave that phone elsewhere.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

from intake.domain.errors import InvalidInput

DEFAULT_REGION = "CN"
_MOBILE = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_INVALID = "不是有效的电话号码 (invalid phone number)"


def normalize_phone(raw: str, *, region: str = DEFAULT_REGION, strict: bool = True) -> str:
    """E.164 form of a phone number, or `InvalidInput` (which never repeats the number).

    `strict` demands a number valid per libphonenumber's metadata (what a citizen types, and
    what we send to: an invalid number is a wasted, billed request). Inbound senders use
    `strict=False` (a merely *possible* number): a brand-new number range missing from the
    metadata must not lose the citizen's message.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidInput("empty phone number", field="phone")
    return _checked(text, region, strict)[0]


def normalize_mainland_mobile(raw: str) -> str:
    """E.164 of a mainland China mobile number: what the web form requires for callbacks."""
    e164, country, mobile = _checked((raw or "").strip(), DEFAULT_REGION, True)
    if country != 86 or not mobile:
        raise InvalidInput("请填写中国大陆手机号码 (a mainland mobile number)", field="phone")
    return e164


def is_mainland_mobile(e164: str) -> bool:
    """True for a mainland China (+86) mobile number: the only kind that can receive our SMS
    through domestic templates, and the kind a citizen's identity is usually keyed on."""
    try:
        _, country, mobile = _checked((e164 or "").strip(), None, True)
    except InvalidInput:
        return False
    return country == 86 and mobile


@lru_cache(maxsize=65_536)
def _checked(raw: str, region: str | None, strict: bool) -> tuple[str, int | None, bool]:
    """Parsing is the costly part of every submission; citizens write from the same numbers."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(_INVALID, field="phone") from exc
    valid = phonenumbers.is_valid_number(parsed)
    if not (valid or (not strict and phonenumbers.is_possible_number(parsed))):
        raise InvalidInput(_INVALID, field="phone")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, parsed.country_code, valid and phonenumbers.number_type(parsed) in _MOBILE


def mask_phone(value: str | None) -> str:
    """+8613812345678 → +86138****5678: numbers are personal data, but the prefix and the last
    digits are enough to follow one case through the logs. Short values keep their last 2
    digits, up to 4 characters none."""
    text = (value or "").strip()
    if len(text) >= 11:
        return f"{text[:-8]}****{text[-4:]}"
    if len(text) > 4:
        return "*" * (len(text) - 2) + text[-2:]
    return "*" * len(text)


# A contact phone typed into a chat message: citizens type numbers every which way (spaces,
# dashes, full-width digits, +86, an area code); `PhoneNumberMatcher` finds them inside Chinese
# text and keeps only valid numbers, so that a ticket number or a house number is never taken
# for a phone. A mobile is preferred because the handler calls back and SMS may be the fall-back.
_DIGITS = re.compile(r"\d")


def find_phone(text: str, *, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of the (first mobile, else first) valid number in the text, or None."""
    folded = unicodedata.normalize("NFKC", text)
    found = [
        match.number
        for match in phonenumbers.PhoneNumberMatcher(
            folded, region, leniency=phonenumbers.Leniency.VALID
        )
    ]
    if not found:
        return None
    best = next((n for n in found if phonenumbers.number_type(n) in _MOBILE), found[0])
    return phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)


def looks_like_a_number(text: str, *, min_digits: int = 7) -> bool:
    """An attempt at a phone number (enough digits) that may still be invalid."""
    return len(_DIGITS.findall(unicodedata.normalize("NFKC", text))) >= min_digits


def without_phone(text: str, *, region: str = DEFAULT_REGION) -> str:
    """The text with the numbers in it removed: what is left of an answer besides the phone.

    The citizen's own characters are kept where folding does not shift positions (full-width
    digits and punctuation fold one to one); otherwise the folded text is returned.
    """
    folded = unicodedata.normalize("NFKC", text)
    kept = text if len(folded) == len(text) else folded
    for match in reversed(list(phonenumbers.PhoneNumberMatcher(folded, region))):
        kept = kept[: match.start] + kept[match.end :]
    return kept.strip()
