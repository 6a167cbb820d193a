"""Special-service list (特服名单): citizens recognised by phone on any channel.

Phones are compared in E.164 form so that "138 0013 8000", "+86 138-0013-8000" and
"008613800138000" are the same person whichever channel they came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intake.domain.errors import ConfigurationError
from intake.triage.catalogue import DATA_DIR, read_yaml

CATEGORY_NAMES = {
    "disabled": "残疾人",
    "elderly-alone": "独居老人",
    "veteran": "退役军人",
    "other": "特殊服务对象",
}


def normalise_phone(phone: str, default_country: str = "86") -> str | None:
    """E.164 for a Chinese mobile or any +/00-prefixed number; None when it is not a phone."""
    raw = phone.strip()
    digits = "".join(c for c in raw if c.isdigit())
    if not digits:
        return None
    if raw.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return f"+{default_country}{digits}"
    if digits.startswith(default_country) and len(digits) == 11 + len(default_country):
        return "+" + digits
    if digits.startswith("0") and len(digits) >= 10:  # landline with area code
        return f"+{default_country}{digits[1:]}"
    return None


@dataclass(frozen=True, slots=True)
class SpecialEntry:
    phone: str
    category: str
    note: str = ""

    @property
    def reason(self) -> str:
        name = CATEGORY_NAMES.get(self.category, self.category)
        return f"特服名单：{name}" + (f"（{self.note}）" if self.note else "")


class SpecialServiceList:
    """Lookup by phone; load once and reload when the operator edits the file."""

    def __init__(self, entries: list[SpecialEntry] | tuple[SpecialEntry, ...] = ()):
        self._by_phone = {entry.phone: entry for entry in entries}

    @classmethod
    def load(cls, path: Path | str = DATA_DIR / "special_service.yaml") -> SpecialServiceList:
        entries: list[SpecialEntry] = []
        for raw in read_yaml(Path(path)).get("entries") or ():
            phone = normalise_phone(str(raw.get("phone", "")))
            if phone is None:
                raise ConfigurationError(f"{path}: not a phone number: {raw.get('phone')!r}")
            entries.append(
                SpecialEntry(phone, str(raw.get("category", "other")), raw.get("note") or "")
            )
        return cls(entries)

    def __len__(self) -> int:
        return len(self._by_phone)

    def lookup(self, phone: str | None) -> SpecialEntry | None:
        normalised = normalise_phone(phone) if phone else None
        return self._by_phone.get(normalised) if normalised else None

    def is_special(self, phone: str | None) -> str | None:
        """The reason to serve this caller first, or None when the phone is not on the list."""
        entry = self.lookup(phone)
        return entry.reason if entry else None
