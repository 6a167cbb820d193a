"""Where a staff member gets alerts: phone (SMS), e-mail, WeCom user id, and the order to try.

The contact lives in `Staff.contact`, the JSON the notifier's routing reads, keyed by channel
name: `{"wecom": "zhangsan", "sms": "+8613812345678", "email": "a@b.cn", "prefer": [...]}`.
Everything is validated here once, so a bad number or address is refused when it is typed,
not discovered when the first alert fails. Views show the masked form only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.errors import InvalidInput, NotFound
from intake.domain.models import Staff
from intake.domain.phones import mask_phone, normalize_phone

ALERT_CHANNELS = ("wecom", "sms", "email", "telegram")
# WeCom's account rule: 1-64 characters of letters, digits and _ - . @
_WECOM_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class ContactChange:
    """What to change; None leaves a field as it is, "" removes it."""

    phone: str | None = None
    email: str | None = None
    wecom_userid: str | None = None
    prefer: str | None = None  # "wecom,sms,email"
    work_hours: str | None = None  # "08:30-17:30": alerts outside wait (urgent ones do not)
    lead: bool | None = None


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        message = f"不是有效的电子邮箱 (invalid e-mail address): {exc}"
        raise InvalidInput(message, field="email") from None


def normalize_wecom_userid(raw: str) -> str:
    value = raw.strip()
    if not _WECOM_USERID.match(value):
        raise InvalidInput(
            "企业微信账号只能含字母、数字和 _-.@，1-64 个字符 (invalid WeCom user id)",
            field="wecom_userid",
        )
    return value


def parse_prefer(raw: str) -> list[str]:
    order = [p.strip().lower() for p in raw.split(",") if p.strip()]
    unknown = [p for p in order if p not in ALERT_CHANNELS]
    if unknown or not order or len(set(order)) != len(order):
        raise InvalidInput(
            f"--prefer takes distinct channels out of {', '.join(ALERT_CHANNELS)}", field="prefer"
        )
    return order


def parse_work_hours(raw: str) -> str:
    value = raw.strip().replace(" ", "")
    if not _HOURS.match(value):
        raise InvalidInput("working hours are HH:MM-HH:MM, e.g. 08:30-17:30", field="work_hours")
    return value


def _set(contact: dict[str, Any], key: str, value: str | None, normalize: Any) -> None:
    if value is None:
        return
    if value.strip():
        contact[key] = normalize(value)
    else:
        contact.pop(key, None)


def apply_change(contact: dict[str, Any], change: ContactChange) -> dict[str, Any]:
    """A new contact dict (the JSON column sees a new object); raises InvalidInput."""
    updated = dict(contact)
    _set(updated, "sms", change.phone, normalize_phone)
    _set(updated, "email", change.email, normalize_email)
    _set(updated, "wecom", change.wecom_userid, normalize_wecom_userid)
    _set(updated, "work_hours", change.work_hours, parse_work_hours)
    if change.prefer is not None:
        if change.prefer.strip():
            updated["prefer"] = parse_prefer(change.prefer)
        else:
            updated.pop("prefer", None)
    missing = [p for p in updated.get("prefer", []) if not updated.get(p)]
    if missing:
        raise InvalidInput(f"--prefer names channels without a contact: {', '.join(missing)}")
    return updated


async def find_staff(session: AsyncSession, name: str) -> Staff:
    """One account by name, or by `#id` when two people share a name."""
    if name.startswith("#") and name[1:].isdigit():
        staff = await session.get(Staff, int(name[1:]))
        if staff is None:
            raise NotFound(f"no staff account {name}")
        return staff
    found = list(await session.scalars(select(Staff).where(Staff.name == name)))
    if not found:
        raise NotFound(f"no staff account named {name!r}")
    if len(found) > 1:
        ids = ", ".join(f"#{s.id}" for s in found)
        raise InvalidInput(f"several accounts are named {name!r}: give one of {ids}")
    return found[0]


async def set_contact(session: AsyncSession, *, name: str, change: ContactChange) -> Staff:
    staff = await find_staff(session, name)
    staff.contact = apply_change(staff.contact or {}, change)
    if change.lead is not None:
        staff.lead = change.lead
    await session.flush()
    return staff


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:2]}***@{domain}"


def masked_contact(contact: dict[str, Any]) -> dict[str, str]:
    """What a list or a log may show: enough to recognise, not enough to use."""
    shown: dict[str, str] = {}
    if contact.get("wecom"):
        value = str(contact["wecom"])
        shown["wecom"] = f"{value[:3]}***" if len(value) > 3 else "***"
    if contact.get("sms"):
        shown["sms"] = mask_phone(str(contact["sms"]))
    if contact.get("email"):
        shown["email"] = mask_email(str(contact["email"]))
    if contact.get("telegram"):
        shown["telegram"] = "linked"
    if contact.get("prefer"):
        shown["prefer"] = ",".join(contact["prefer"])
    if contact.get("work_hours"):
        shown["work_hours"] = str(contact["work_hours"])
    return shown
