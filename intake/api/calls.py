"""`POST /api/v1/tickets`: a call-centre system files a call as an agent would in the console.

Same rules as the console's 来电录入 (`intake.calls`): a staff bearer token of a hotline role
(agent; supervisors and administrators may too), the same validation, and the call's own id
(`call_id`) as the idempotency key, so a retried POST answers with the first ticket.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from intake.api.deps import RuntimeDep, StaffDep
from intake.calls.filing import check_role, file_call
from intake.calls.request import CallRequest, reasons
from intake.domain.errors import InvalidInput

router = APIRouter(prefix="/api/v1/tickets", tags=["staff"])
MAX_BODY = 64 * 1024

_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CallRequest.model_json_schema()}},
    }
}


@router.post(
    "",
    status_code=201,
    summary="File a phone call (来电录入): a new ticket, a follow-up (link_to) or a direct "
    "answer (answer); idempotent on call_id",
    openapi_extra=_OPENAPI,
    responses={
        201: {"description": "number, query_code (a new ticket's), duplicate, follow_up"},
        401: {"description": "no valid staff token"},
        403: {"description": "not a hotline role"},
        409: {"description": "call_id already used for a different call"},
        422: {"description": "detail: [{field, message}]"},
    },
)
async def file_endpoint(request: Request, runtime: RuntimeDep, staff: StaffDep) -> JSONResponse:
    check_role(staff)  # 403 before the body is even read
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidInput("request body too large", field="body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"invalid JSON: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the JSON body must be an object", field="body")
    try:
        call = CallRequest.model_validate(data)
    except ValidationError as exc:
        return JSONResponse({"detail": reasons(exc)}, status_code=422)
    receipt = await file_call(runtime, staff, call)
    body: dict[str, Any] = {
        "number": receipt.number,
        "query_code": receipt.query_code,
        "status": "received",
        "duplicate": receipt.duplicate,
        "follow_up": receipt.follow_up,
        "direct_answer": receipt.answered,
    }
    if receipt.emergency is not None:
        body["emergency"] = receipt.emergency
    headers = {"Idempotent-Replayed": "true"} if receipt.duplicate else {}
    return JSONResponse(body, status_code=201, headers=headers)
