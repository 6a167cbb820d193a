"""Which WeChat requests the bot asks more about before filing them, read from editable YAML.

A street-light report without a place cannot be dispatched and one without a phone cannot be
checked back; one question inside the chat is cheaper than a handler's call later. What needs
what, which words end or cancel the conversation and what the bot says are data
(`dialog.yaml`), so that operators tune them without code.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intake.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).with_name("dialog.yaml")
NEEDS = frozenset({"text", "place", "phone"})
TEXTS = ("ask_text", "ask_place", "ask_phone", "phone_invalid", "cancelled", "nothing_to_file")


def fold(text: str) -> str:
    """NFKC, lower case, whitespace removed: how keywords and patterns are matched."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def whole_word(text: str) -> str:
    """The message as a command word: folded, end punctuation dropped (“提交。” → 提交)."""
    return fold(text).strip("。.!！~～,，")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    keywords: tuple[str, ...]
    needs: tuple[str, ...]

    def matches(self, folded: str) -> bool:
        return not self.keywords or any(word in folded for word in self.keywords)


@dataclass(frozen=True)
class DialogRules:
    rules: tuple[Rule, ...]
    menu_needs: tuple[str, ...]
    place_patterns: tuple[re.Pattern[str], ...]
    finish_words: frozenset[str]
    cancel_words: frozenset[str]
    texts: dict[str, str]
    max_asks: int = 2

    @classmethod
    def load(cls, path: Path | None = None) -> DialogRules:
        source = path or DEFAULT_FILE
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError, re.error) as exc:
            raise ConfigurationError(f"WeChat dialog rules {source}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DialogRules:
        rules = tuple(
            Rule(
                id=str(item["id"]),
                keywords=tuple(fold(str(k)) for k in item.get("keywords") or ()),
                needs=_needs(item.get("needs") or ()),
            )
            for item in data.get("rules") or ()
        )
        texts = {str(k): str(v) for k, v in (data.get("texts") or {}).items()}
        missing = [name for name in TEXTS if name not in texts]
        if missing:
            raise ValueError(f"texts missing: {', '.join(missing)}")
        return cls(
            rules=rules,
            menu_needs=_needs(data.get("menu_needs") or ()),
            place_patterns=tuple(re.compile(str(p)) for p in data.get("place_patterns") or ()),
            finish_words=frozenset(whole_word(str(w)) for w in data.get("finish_words") or ()),
            cancel_words=frozenset(whole_word(str(w)) for w in data.get("cancel_words") or ()),
            texts=texts,
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

    def text(self, name: str, **values: object) -> str:
        return self.texts[name].format(**values)


def _needs(values: Any) -> tuple[str, ...]:
    needs = tuple(dict.fromkeys(str(v) for v in values))
    unknown = [n for n in needs if n not in NEEDS]
    if unknown:
        raise ValueError(f"unknown needs {unknown}; use {sorted(NEEDS)}")
    return needs
