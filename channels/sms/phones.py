"""Phone numbers: one canonical form (E.164) so a citizen is the same person on every channel.

A number typed on the web form as `138 0013 8000`, given by Kannel as `+8613800138000` or by an
operator's SMSC as `008613800138000` must all become `+8613800138000`, otherwise the SMS sender
would not be linked to the citizen who gave that phone elsewhere.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from intake.errors import InvalidInput

DEFAULT_REGION = "CN"
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize(raw: str, region: str = DEFAULT_REGION, *, strict: bool = True) -> str:
    """Return `raw` in E.164 or raise `InvalidInput`.

    `strict` demands a number valid per libphonenumber's metadata (use it before sending: an
    invalid number is a wasted, billed request). Inbound senders use `strict=False` (a merely
    *possible* number): a brand-new number range missing from the metadata must not lose the
    citizen's message.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidInput("empty phone number", field="phone")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {mask(text)}", field="phone") from exc
    ok = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not ok:
        raise InvalidInput(f"not a valid phone number: {mask(text)}", field="phone")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_mainland_mobile(e164: str) -> bool:
    """True for a mainland China (+86) mobile number: the only kind that can receive our SMS
    through domestic templates, and the kind a citizen's identity is usually keyed on."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return False
    return phonenumbers.number_type(number) in _MOBILE_TYPES


def mask(phone: str) -> str:
    """Mask a number for logs (`+8613800138000` -> `+86138****8000`): numbers are personal data,
    but the prefix and the last digits are enough to follow one case through the logs."""
    text = (phone or "").strip()
    if len(text) >= 11:
        return f"{text[:-8]}****{text[-4:]}"
    if len(text) > 4:
        return "*" * (len(text) - 2) + text[-2:]
    return "*" * len(text)
