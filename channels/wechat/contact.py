"""A contact phone typed into a chat message, found and normalized with `phonenumbers`.

Citizens type numbers every which way (spaces, dashes, full-width digits, +86, an area code);
`PhoneNumberMatcher` finds them inside Chinese text and keeps only valid numbers, so that a
ticket number or a house number is never taken for a phone. A mobile is preferred because the
handler calls back and the notifier may fall back to SMS.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

REGION = "CN"
_MOBILE = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_DIGITS = re.compile(r"\d")


def find_phone(text: str, *, region: str = REGION) -> str | None:
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


def without_phone(text: str, *, region: str = REGION) -> str:
    """The text with the numbers in it removed: what is left of an answer besides the phone.

    The citizen's own characters are kept where folding does not shift positions (full-width
    digits and punctuation fold one to one); otherwise the folded text is returned.
    """
    folded = unicodedata.normalize("NFKC", text)
    kept = text if len(folded) == len(text) else folded
    for match in reversed(list(phonenumbers.PhoneNumberMatcher(folded, region))):
        kept = kept[: match.start] + kept[match.end :]
    return kept.strip()
