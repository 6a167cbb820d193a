"""GeoReport v2 answers in both formats: JSON arrays and UTF-8 XML with the spec's elements.

Values are strings, numbers, booleans, None (an empty element in XML) or lists (repeated
child elements named by `ITEM_NAMES`, or a comma-joined string where the spec says so).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from fastapi.responses import Response

from intake.domain.clock import SHANGHAI

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# the element a list's items take in XML, by the list's own name
ITEM_NAMES = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}

Record = dict[str, Any]


class Open311Error(Exception):
    """An answer in the spec's error format: `[{code, description}]`, HTTP status `code`."""

    def __init__(self, code: int, description: str, *, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.code, self.description, self.headers = code, description, headers or {}


def w3c(at: datetime | None) -> str | None:
    """ISO 8601 with the zone, in the hotline's own time (`2026-12-06T13:21:03+08:00`)."""
    return at.astimezone(SHANGHAI).isoformat(timespec="seconds") if at else None


def format_of(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(400, f"unknown format '{fmt[:10]}': use .json or .xml")
    return fmt


def answer(
    fmt: str,
    root: str,
    item: str | None,
    data: list[Record] | Record,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`data` as JSON, or as XML under `<root>` (each record an `<item>`, or `root` itself)."""
    if fmt == "json":
        body = orjson.dumps(data)
    else:
        element = ET.Element(root)
        if item is None:
            assert isinstance(data, dict)
            _fill(element, data)
        else:
            for record in data if isinstance(data, list) else [data]:
                _fill(ET.SubElement(element, item), record)
        body = ET.tostring(element, encoding="UTF-8", xml_declaration=True)
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=headers)


def error_answer(fmt: str, exc: Open311Error) -> Response:
    record = {"code": exc.code, "description": exc.description}
    fmt = fmt if fmt in FORMATS else "json"
    return answer(fmt, "errors", "error", [record], status=exc.code, headers=exc.headers)


def _fill(element: ET.Element, record: Record) -> None:
    for name, value in record.items():
        child = ET.SubElement(element, name)
        if isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict):
                    _fill(ET.SubElement(child, ITEM_NAMES.get(name, name)), entry)
                else:
                    ET.SubElement(child, ITEM_NAMES.get(name, name)).text = _text(entry)
        elif isinstance(value, dict):
            _fill(child, value)
        else:
            child.text = _text(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
