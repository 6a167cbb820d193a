"""The HTTP stack's own ceiling: FastAPI validating the same body and answering 201."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from channels.web.form import WebRequest

app = FastAPI()


@app.post("/api/v1/requests", status_code=201)
async def submit(request: Request) -> JSONResponse:
    parsed = WebRequest.model_validate_json(await request.body())
    return JSONResponse(
        {"number": "2026112100001", "query_code": "ABCDEFGH", "phone": parsed.phone},
        status_code=201,
    )
