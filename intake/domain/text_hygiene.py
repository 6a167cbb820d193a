"""Text a stranger sent, made storable: control characters out, ordinary Unicode kept.

PostgreSQL refuses NUL in `text` (and `\\u0000` in `jsonb`), and orjson refuses lone
surrogates, so a message carrying one was acknowledged and then failed in the pipeline until
it was dead-lettered. Every value a citizen or a channel sends therefore passes through
`clean_text` before it is made durable (the message types of `intake.domain.messages` apply it when
they are built): C0 controls other than tab, line feed and carriage return, DEL, C1 controls
and lone surrogates are removed. Identifiers (gateway ids, idempotency keys, phone numbers) are
stripped by the same rule, so that a retry carrying the same bytes maps to the same key; an
identifier left empty is refused by the edge that needs it.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# the same set in orjson's output: C0 escapes other than \t \n \r, DEL and C1 in UTF-8
_SERIALISED_UNSTORABLE = re.compile(rb"\\u00[01]|\\[bf]|\x7f|\xc2[\x80-\x9f]")


def clean_text(value: str) -> str:
    """`value` without the characters no store takes; the same object when it has none."""
    return _UNSTORABLE.sub("", value) if _UNSTORABLE.search(value) else value


def is_clean(value: str) -> bool:
    return _UNSTORABLE.search(value) is None


def clean_data(value: Any) -> Any:
    """Strings anywhere in a JSON-like value (dict keys too) cleaned; other values kept.

    The value itself is returned when nothing needed cleaning. Whether anything does is
    asked of orjson first: one serialisation is several times cheaper than a walk in Python,
    and orjson escapes every C0 control, refuses lone surrogates and keeps DEL and C1 controls
    as they are, all of which the pattern below finds (a false alarm only costs the walk).
    """
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list | tuple) or all_clean(value):
        return value
    return _walk(value)


def all_clean(*values: Any) -> bool:
    """True when no string in `values` (JSON-like, nested) needs cleaning: one call to orjson
    for many values. False also for values orjson does not take (then clean them one by one)."""
    try:
        return _SERIALISED_UNSTORABLE.search(orjson.dumps(values)) is None
    except TypeError:  # lone surrogates, or keys and values orjson does not take
        return False


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_walk(k): _walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_walk(v) for v in value)
    return value
