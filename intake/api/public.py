"""Citizen-facing API of the core: look up one's own request."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from intake.api.client_ip import client_ip
from intake.api.deps import RuntimeDep
from intake.api.ratelimit import lookup_within_limits

router = APIRouter(prefix="/api/v1/requests", tags=["citizens"])


@router.get("/{number}", summary="A citizen's own request: status and public timeline")
async def get_request(
    number: str,
    runtime: RuntimeDep,
    request: Request,
    phone: Annotated[str | None, Query(description="the phone given with the request")] = None,
    code: Annotated[str | None, Query(description="the query code (查询码)")] = None,
) -> JSONResponse:
    status = await lookup_within_limits(
        runtime,
        ip=client_ip(request.scope, runtime.settings.http.trusted_proxies),
        number=number,
        phone=phone,
        code=code,
    )
    return JSONResponse(_jsonable(asdict(status)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value
