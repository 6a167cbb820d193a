"""Phone numbers: E.164 for storage and matching, masked for logs and staff lists."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from intake.errors import InvalidInput

_MOBILE = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def normalize_phone(raw: str, *, region: str = "CN") -> str:
    """E.164 form of a phone number, or InvalidInput when it is not a valid number."""
    return _checked(raw.strip(), region)[0]


def normalize_mainland_mobile(raw: str) -> str:
    """E.164 of a mainland China mobile number: what the web form requires for callbacks."""
    e164, country, mobile = _checked(raw.strip(), "CN")
    if country != 86 or not mobile:
        raise InvalidInput("请填写中国大陆手机号码 (a mainland mobile number)", field="phone")
    return e164


@lru_cache(maxsize=65_536)
def _checked(raw: str, region: str) -> tuple[str, int | None, bool]:
    """Parsing is the costly part of every submission; citizens write from the same numbers."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("不是有效的电话号码 (invalid phone number)", field="phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("不是有效的电话号码 (invalid phone number)", field="phone")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, parsed.country_code, phonenumbers.number_type(parsed) in _MOBILE


def mask_phone(value: str | None) -> str:
    """+8613812345678 → +86138****5678; short or odd values keep only their last 2 digits."""
    if not value:
        return ""
    if len(value) >= 11:
        return f"{value[:-8]}****{value[-4:]}"
    return "*" * max(len(value) - 2, 0) + value[-2:]
