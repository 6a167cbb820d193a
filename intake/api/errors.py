"""Deliberate errors become HTTP answers with a reason; nothing else leaks out."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from intake.api.validation_errors import validation_answer
from intake.domain.errors import (
    Conflict,
    Forbidden,
    IntakeError,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[IntakeError], int], ...] = (
    (InvalidInput, 422),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthorized, 401),
    (TooLarge, 413),
    (TooManyRequests, 429),
    (Unavailable, 503),
)


def error_headers(exc: IntakeError) -> dict[str, str]:
    """Headers an error's answer carries: when to retry, or how to authenticate."""
    if isinstance(exc, TooManyRequests | Unavailable):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return {}


def error_answer(exc: IntakeError, *, method: str, path: str) -> tuple[int, dict[str, object]]:
    """The status and JSON body for a deliberate error, logged (FastAPI routes and the fast
    lanes of `intake.api.fast_lanes` answer alike)."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    body: dict[str, object] = {"detail": str(exc)}
    if isinstance(exc, InvalidInput) and exc.field:
        body["field"] = exc.field
    if isinstance(exc, Unavailable):  # an outage is logged once (intake.api.outages)
        log.debug("503 for %s %s: %s", method, path, exc)
    elif status >= 500:
        log.error("unhandled intake error on %s: %r", path, exc)
    else:
        log.info("refused %s %s: %s %s", method, path, status, exc)
    return status, body


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_answer)

    @app.exception_handler(IntakeError)
    async def _intake_error(request: Request, exc: IntakeError) -> JSONResponse:
        status, body = error_answer(exc, method=request.method, path=request.url.path)
        return JSONResponse(body, status_code=status, headers=error_headers(exc))
