"""FastAPI's 422 for a request that fails validation, made safe for any input.

FastAPI's own answer echoes each invalid input with the standard library's strict JSON, which
raises on the infinity a JSON `1e999` becomes, and decodes echoed bytes as UTF-8: a 500 for
either. Here the input is echoed only when it is a short scalar; orjson writes an infinite
float as null.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

ECHO_MAX_CHARS = 200


async def validation_answer(request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    body = orjson.dumps({"detail": [_error(e) for e in errors]}, default=str)
    return Response(body, status_code=422, media_type="application/json")


def _error(error: dict[str, Any]) -> dict[str, Any]:
    out = {
        "type": str(error.get("type", "")),
        "loc": [str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
    }
    value = error.get("input")
    if isinstance(value, str):
        out["input"] = value[:ECHO_MAX_CHARS]
    elif value is None or isinstance(value, bool | int | float):
        out["input"] = value if not isinstance(value, int) or abs(value) < 2**53 else str(value)
    return out
