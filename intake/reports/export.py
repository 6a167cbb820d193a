"""Report rows as CSV, safe to open in a spreadsheet: no cell begins a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula gets a leading apostrophe; numbers
    stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_xlsx(rows: Iterable[dict[str, Any]], columns: list[str], *, title: str) -> bytes:
    """A one-sheet workbook, written as it streams (the write-only mode keeps no cells)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append(columns)
    for row in rows:
        sheet.append([safe_cell(row.get(name)) for name in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(name)) for name in columns])
    return out.getvalue()


KPI_COLUMNS = ["department", "kpi", "label", "numerator", "denominator", "rate"]
HOT_COLUMNS = ["kind", "topic", "count", "previous", "spike", "today", "spike_today"]


def hot_rows(hot: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"kind": kind, **item}
        for kind in ("categories", "streets", "words")
        for item in hot.get(kind, [])
    ]
