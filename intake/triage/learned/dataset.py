"""Training rows: read from a hotline's export (CSV or JSON Lines), checked against the
catalogue, merged with staff corrections, and hashed so a model names the data it learned."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intake.domain.errors import InvalidInput
from intake.triage.models import REQUEST_TYPES
from intake.triage.text import normalise

TYPE_COLUMNS = ("request_type", "type")


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    category: str
    title: str = ""
    request_type: str | None = None

    @property
    def document(self) -> str:
        """What the model reads: the title, then the text."""
        return f"{self.title}。{self.text}" if self.title else self.text

    @property
    def key(self) -> str:
        """Rows with the same key are one letter (a correction replaces the older label)."""
        return normalise(self.document)


class UnknownLabels(InvalidInput):
    """Rows carry categories or types that the catalogue does not know."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        super().__init__(f"labels not in the catalogue: {', '.join(self.labels)}", field="category")


def read_rows(path: Path) -> list[Row]:
    """CSV (with a header) or JSON Lines, chosen by the suffix (.jsonl/.json: JSON Lines)."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="file") from exc
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        records = list(_json_lines(raw, path))
    else:
        records = list(csv.DictReader(io.StringIO(raw)))
    return [_row(record, path, n) for n, record in enumerate(records, start=2)]


def _json_lines(raw: str, path: Path) -> Iterable[dict[str, Any]]:
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(f"{path}:{n}: not JSON ({exc})", field="file") from exc
        if not isinstance(record, dict):
            raise InvalidInput(f"{path}:{n}: expected an object", field="file")
        yield record


def _row(record: dict[str, Any], path: Path, n: int) -> Row:
    text = str(record.get("text") or "").strip()
    category = str(record.get("category") or "").strip()
    if not text or not category:
        raise InvalidInput(f"{path}: row {n} needs text and category", field="file")
    kind = next((str(record[c]).strip() for c in TYPE_COLUMNS if record.get(c)), None)
    return Row(text, category, str(record.get("title") or "").strip(), kind or None)


def check_labels(rows: Iterable[Row], codes: Iterable[str]) -> None:
    """Refuse rows whose category (or type) is not in the catalogue, naming every such label."""
    known = set(codes)
    unknown = {row.category for row in rows if row.category not in known}
    unknown |= {
        row.request_type
        for row in rows
        if row.request_type is not None and row.request_type not in REQUEST_TYPES
    }
    if unknown:
        raise UnknownLabels(sorted(unknown))


def merge(rows: Iterable[Row], corrections: Iterable[Row]) -> list[Row]:
    """The rows, with a correction replacing every row of the same letter (and added if new)."""
    corrected = {row.key: row for row in corrections}
    kept = [row for row in rows if row.key not in corrected]
    return kept + list(corrected.values())


def sha256(rows: Iterable[Row]) -> str:
    """The SHA-256 of the rows in a canonical form (one JSON array per row, sorted)."""
    lines = sorted(
        json.dumps([r.title, r.text, r.category, r.request_type], ensure_ascii=False) for r in rows
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()
