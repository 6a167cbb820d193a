"""Deliberate errors become HTTP answers with a reason; nothing else leaks out."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from intake.errors import Conflict, Forbidden, IntakeError, InvalidInput, NotFound

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[IntakeError], int], ...] = (
    (InvalidInput, 422),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IntakeError)
    async def _intake_error(request: Request, exc: IntakeError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, InvalidInput) and exc.field:
            body["field"] = exc.field
        if status >= 500:
            log.error("unhandled intake error on %s: %r", request.url.path, exc)
        else:
            log.info("refused %s %s: %s %s", request.method, request.url.path, status, exc)
        return JSONResponse(body, status_code=status)
