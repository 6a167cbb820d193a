"""What a guided request needs and what the bot says while asking, read from editable YAML.

A street-light report without a place cannot be dispatched and one without a phone cannot be
checked back; one question inside the chat is cheaper than a handler's call later. What needs
what, which words end, cancel or skip a step, and the questions in Chinese and English are
data (`intake/data/guided.yaml`), so that operators tune them without code. An operator's copy
replaces the shipped file's sections it holds and keeps the others.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from intake.config import CatalogSettings
from intake.domain.enums import RequestType
from intake.domain.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).parent.parent / "data" / "guided.yaml"
NEEDS = frozenset({"type", "text", "place", "phone"})
CHAT_NEEDS = NEEDS - {"type"}  # a chat has no buttons to choose a type with
CHAT_TEXTS = ("ask_text", "ask_place", "ask_phone", "phone_invalid", "cancelled", "nothing_to_file")
FORM_TEXTS = (
    *("ask_type", "type_again", "ask_text", "text_again", "ask_place", "ask_phone"),
    *("phone_not_own", "phone_invalid", "attached", "too_large", "cancelled", "too_many"),
)
LABELS = ("skip", "cancel", "share_location", "share_phone")
Language = Literal["zh", "en", "both"]


def fold(text: str) -> str:
    """NFKC, lower case, whitespace removed: how keywords and patterns are matched."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def whole_word(text: str) -> str:
    """The message as a command word: folded, end punctuation dropped (“提交。” → 提交)."""
    return fold(text).strip("。.!！~～,，")


@dataclass(frozen=True, slots=True)
class Wording:
    """One text in Chinese and (when given) English, and how the two are shown together."""

    zh: str
    en: str | None = None
    sep: str = "\n"

    def render(self, language: Language, **values: object) -> str:
        if language == "zh" or self.en is None:
            text = self.zh
        elif language == "en":
            text = self.en
        else:
            text = f"{self.zh}{self.sep}{self.en}"
        return text.format(**values) if values else text

    def label(self) -> str:
        """A button's label: both languages on one line."""
        return f"{self.zh} {self.en}" if self.en else self.zh


# said to a sender over the submission limit, for an operator's copy written without it
TOO_MANY = Wording("您提交的诉求过于频繁，本次内容未能受理，请稍后再试；紧急情况请拨打12345热线。")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    keywords: tuple[str, ...]
    needs: tuple[str, ...]

    def matches(self, folded: str) -> bool:
        return not self.keywords or any(word in folded for word in self.keywords)


@dataclass(frozen=True)
class FormRules:
    """The step-by-step request: its steps, its buttons, its request types and its texts."""

    needs: tuple[str, ...]
    cancel_words: frozenset[str]
    skip_words: frozenset[str]
    labels: dict[str, Wording]
    request_types: dict[RequestType, Wording]
    texts: dict[str, Wording]

    def is_cancel(self, text: str) -> bool:
        return whole_word(text) in self.cancel_words

    def is_skip(self, text: str) -> bool:
        return whole_word(text) in self.skip_words

    def request_type_of(self, answer: str) -> RequestType | None:
        """The button's label, or its Chinese or English word, or its code, typed by hand."""
        folded = answer.strip().lower()
        for value, wording in self.request_types.items():
            label = wording.label().lower()
            if folded in {label, *label.split(), value.value}:
                return value
        return None


@dataclass(frozen=True)
class GuidedCatalogue:
    rules: tuple[Rule, ...]
    menu_needs: tuple[str, ...]
    place_patterns: tuple[re.Pattern[str], ...]
    finish_words: frozenset[str]
    cancel_words: frozenset[str]
    texts: dict[str, Wording]
    form: FormRules
    max_asks: int = 2

    @classmethod
    def load(cls, path: Path | None = None) -> GuidedCatalogue:
        """The shipped catalogue, with the sections of an operator's copy in place of its own."""
        source = path or DEFAULT_FILE
        try:
            data = _read(DEFAULT_FILE)
            if path is not None:
                data.update(_read(path))
            return cls.from_dict(data)
        except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError, re.error) as exc:
            raise ConfigurationError(
                f"guided request catalogue (dialog rules) {source}: {exc}"
            ) from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuidedCatalogue:
        rules = tuple(
            Rule(
                id=str(item["id"]),
                keywords=tuple(fold(str(k)) for k in item.get("keywords") or ()),
                needs=_needs(item.get("needs") or (), CHAT_NEEDS),
            )
            for item in data.get("rules") or ()
        )
        return cls(
            rules=rules,
            menu_needs=_needs(data.get("menu_needs") or (), CHAT_NEEDS),
            place_patterns=tuple(re.compile(str(p)) for p in data.get("place_patterns") or ()),
            finish_words=_words(data.get("finish_words")),
            cancel_words=_words(data.get("cancel_words")),
            texts={"too_many": TOO_MANY, **_texts(data.get("texts"), CHAT_TEXTS)},
            form=_form(data.get("form") or {}),
            max_asks=int(data.get("max_asks", 2)),
        )

    def rule_for(self, text: str) -> Rule | None:
        """The first rule whose keywords the text contains (and that needs anything)."""
        folded = fold(text)
        return next((r for r in self.rules if r.needs and r.matches(folded)), None)

    def names_address(self, text: str) -> bool:
        folded = fold(text)
        return any(pattern.search(folded) for pattern in self.place_patterns)

    def is_finish(self, text: str) -> bool:
        return whole_word(text) in self.finish_words

    def is_cancel(self, text: str) -> bool:
        return whole_word(text) in self.cancel_words


def operator_copy(catalog: CatalogSettings) -> Path | None:
    """The operator's catalogue: `INTAKE_CATALOG__GUIDED_FILE`, else a `guided.yaml` in the
    folder of texts that overrides the bot's replies, else none (the shipped one)."""
    if catalog.guided_file is not None:
        return catalog.guided_file
    folder = catalog.replies_file
    beside = folder / "guided.yaml" if folder is not None else None
    return beside if beside is not None and beside.is_file() else None


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a mapping of sections")
    return data


def _form(data: dict[str, Any]) -> FormRules:
    needs = _needs(data.get("needs") or (), NEEDS)
    labels = {str(k): _wording(v) for k, v in (data.get("labels") or {}).items()}
    missing = [name for name in LABELS if name not in labels]
    if missing:
        raise ValueError(f"form labels missing: {', '.join(missing)}")
    types = {RequestType(str(k)): _wording(v) for k, v in (data.get("request_types") or {}).items()}
    if "type" in needs and not types:
        raise ValueError("form asks for a type but offers no request_types")
    return FormRules(
        needs=needs,
        cancel_words=_words(data.get("cancel_words")),
        skip_words=_words(data.get("skip_words")),
        labels=labels,
        request_types=types,
        texts=_texts(data.get("texts"), FORM_TEXTS),
    )


def _texts(raw: Any, required: tuple[str, ...]) -> dict[str, Wording]:
    texts = {str(k): _wording(v) for k, v in (raw or {}).items()}
    missing = [name for name in required if name not in texts]
    if missing:
        raise ValueError(f"texts missing: {', '.join(missing)}")
    return texts


def _wording(value: Any) -> Wording:
    if isinstance(value, dict):
        en = value.get("en")
        return Wording(
            str(value["zh"]), None if en is None else str(en), str(value.get("sep", "\n"))
        )
    return Wording(str(value))


def _words(values: Any) -> frozenset[str]:
    return frozenset(whole_word(str(w)) for w in values or ())


def _needs(values: Any, allowed: frozenset[str]) -> tuple[str, ...]:
    needs = tuple(dict.fromkeys(str(v) for v in values))
    unknown = [n for n in needs if n not in allowed]
    if unknown:
        raise ValueError(f"unknown needs {unknown}; use {sorted(allowed)}")
    return needs
