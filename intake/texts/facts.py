"""What a text about one ticket may name, in one shape for the core's replies and the notifier.

A channel's own reply that stands in for a notification (WeChat's passive acknowledgement)
and the notification itself fill the same template from this context, so an operator's
template that names the deadline or the title works, and reads the same, on both ways out.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from intake.domain.enums import RequestType


def local_time(at: datetime | None, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else ""


def request_type_label(value: str | None) -> str:
    try:
        return RequestType(value).label_zh
    except ValueError:
        return value or ""


def ticket_context(
    *,
    number: str,
    query_code: str | None,
    title: str | None,
    request_type: str | None,
    department: str | None,
    due_at: datetime | None,
    zone: tzinfo,
    template: str,
) -> dict[str, Any]:
    """The ticket's facts, and the message's own ones (`text`, `emergency` …) empty."""
    return {
        "number": number,
        "query_code": query_code or "",
        "title": title or "",
        "text": "",
        "department": department or "",
        "request_type": request_type_label(request_type),
        "due": local_time(due_at, zone),
        "reason": "",
        "emergency": "",
        "at_intake": False,  # answered the moment it came in
        "template": template,
        "code": "",
        "expires": "",
        "links": None,
    }
