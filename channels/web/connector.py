"""Routes of the web channel: the form page, the request API and the status page.

The routes only parse, validate and hand over: `POST /api/v1/requests` answers 201 as soon as
the request is durable on the intake stream (the ticket number is allocated there), and the
pipeline writes the ticket moments later.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from channels.base import BackgroundTask, Sender
from channels.web.files import store_uploads
from channels.web.form import WebRequest, field_errors, to_message
from intake.api.fast_lanes import FastRoute, LaneAnswer, LaneRequest
from intake.clock import SHANGHAI
from intake.enums import RequestType
from intake.errors import InvalidInput, NotFound
from intake.gateway import AcceptedReceipt, fingerprint
from intake.lookup import public_status
from intake.runtime import Runtime

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_JSON_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to a submission: 201 with the receipt, 409, or 422 with the field errors."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] | None = None

    @classmethod
    def refused(cls, errors: list[dict[str, str]]) -> SubmitResult:
        log.info("web request refused: %s", ", ".join(e["field"] for e in errors))
        return cls(422, {"detail": errors}, errors=errors)


class WebConnector:
    name = "web"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def sender(self) -> Sender | None:
        return None  # web citizens are answered on the status page, by SMS or e-mail

    def background_tasks(self) -> list[BackgroundTask]:
        return []

    def router(self) -> APIRouter:
        router = APIRouter(tags=["citizens"])
        router.add_api_route(
            "/",
            self.form_page,
            methods=["GET"],
            response_class=HTMLResponse,
            summary="Citizen web form",
        )
        router.add_api_route(
            "/status",
            self.status_page,
            methods=["GET"],
            response_class=HTMLResponse,
            summary="Status lookup page",
        )
        router.add_api_route(
            "/api/v1/requests",
            self.submit,
            methods=["POST"],
            status_code=201,
            summary="Submit a request (JSON or form; Idempotency-Key honoured)",
            openapi_extra=_SUBMIT_OPENAPI,
        )
        return router

    def fast_routes(self) -> list[FastRoute]:
        return [
            FastRoute(
                "POST",
                "/api/v1/requests",
                self._submit_json,
                max_body=MAX_JSON_BYTES,
                takes=lambda headers: headers.get("content-type", "").startswith(
                    "application/json"
                ),
            )
        ]

    async def _submit_json(self, request: LaneRequest) -> LaneAnswer:
        result = await self.accept(
            parse_json_body(request.body),
            [],
            idempotency_key=request.headers.get("idempotency-key"),
            client_ip=request.client_ip,
        )
        return LaneAnswer.json(result.status, result.body, result.headers)

    async def form_page(self, request: Request) -> HTMLResponse:
        return self._form(request, values={}, errors={})

    async def submit(self, request: Request) -> Response:
        wants_html, data, uploads = await _read_body(request)
        result = await self.accept(
            data,
            uploads,
            idempotency_key=request.headers.get("idempotency-key"),
            client_ip=request.client.host if request.client else None,
        )
        if result.errors is not None:
            return self._invalid(request, wants_html, data, result.errors)
        if wants_html and result.status == 201:
            return templates.TemplateResponse(
                request, "confirm.html", result.body, status_code=201, headers=result.headers
            )
        return JSONResponse(result.body, status_code=result.status, headers=result.headers)

    async def accept(
        self,
        data: dict[str, Any],
        uploads: list[UploadFile],
        *,
        idempotency_key: str | None,
        client_ip: str | None,
    ) -> SubmitResult:
        """Validate, store the attachments and make the request durable: what both the
        FastAPI route and the JSON fast lane answer with."""
        try:
            parsed = WebRequest.model_validate(data)
        except ValidationError as exc:
            return SubmitResult.refused(field_errors(exc))
        web = self._runtime.settings.web
        try:
            attachments = await store_uploads(
                uploads,
                store=self._runtime.attachments,
                max_files=web.max_attachments,
                max_bytes=web.max_attachment_bytes,
            )
        except InvalidInput as exc:
            return SubmitResult.refused(
                [{"field": exc.field or "attachments", "message": str(exc)}]
            )
        key = (idempotency_key or str(data.get("client_token") or "") or uuid.uuid4().hex)[:200]
        message = to_message(
            parsed,
            idempotency_key=key,
            attachments=attachments,
            received_at=self._runtime.clock(),
            client_ip=client_ip,
        )
        receipt = await self._runtime.gateway.submit(message, open_ticket=True)
        if (
            isinstance(receipt, AcceptedReceipt)
            and receipt.duplicate
            and (receipt.fingerprint != fingerprint(message))
        ):
            return SubmitResult(409, {"detail": "Idempotency-Key was used for a different request"})
        body = {
            "number": receipt.number,
            "query_code": receipt.query_code,
            "status": "received",
            "duplicate": receipt.duplicate,
        }
        headers = {"Idempotent-Replayed": "true"} if receipt.duplicate else {}
        return SubmitResult(201, body, headers)

    async def status_page(
        self, request: Request, number: str | None = None, code: str | None = None
    ) -> HTMLResponse:
        context: dict[str, Any] = {"number": number, "code": code, "tz": SHANGHAI}
        if number and code:
            is_phone = code.strip().lstrip("+").isdigit() and len(code.strip()) >= 11
            try:
                context["status"] = await public_status(
                    self._runtime,
                    number=number.strip(),
                    phone=code if is_phone else None,
                    code=None if is_phone else code,
                )
            except NotFound:
                context["not_found"] = True
        return templates.TemplateResponse(
            request, "status.html", context, status_code=404 if context.get("not_found") else 200
        )

    def _form(
        self,
        request: Request,
        *,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> HTMLResponse:
        web = self._runtime.settings.web
        return templates.TemplateResponse(
            request,
            "form.html",
            {
                "values": values,
                "errors": errors,
                "client_token": uuid.uuid4().hex,
                "request_types": [(t.value, t.label_zh) for t in RequestType],
                "max_files": web.max_attachments,
                "max_mb": web.max_attachment_bytes // (1024 * 1024),
            },
            status_code=status_code,
        )

    def _invalid(
        self, request: Request, wants_html: bool, data: dict[str, Any], errors: list[dict[str, str]]
    ) -> Response:
        if wants_html:
            by_field = {e["field"]: e["message"] for e in errors}
            return self._form(request, values=data, errors=by_field, status_code=422)
        return JSONResponse({"detail": errors}, status_code=422)


async def _read_body(request: Request) -> tuple[bool, dict[str, Any], list[UploadFile]]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return False, parse_json_body(await request.body()), []
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=20, max_fields=50)
        data = {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)}
        if "anonymous" in data:
            data["anonymous"] = str(data["anonymous"]).lower() in {"true", "on", "1", "yes"}
        uploads = [v for v in form.getlist("attachments") if isinstance(v, UploadFile)]
        return "text/html" in request.headers.get("accept", ""), data, uploads
    raise InvalidInput("send JSON or a form (multipart/form-data)", field="content-type")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidInput("request body too large", field="body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"invalid JSON: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the JSON body must be an object", field="body")
    return data


_SUBMIT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": WebRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **WebRequest.model_json_schema()["properties"],
                        "attachments": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                    "required": ["phone", "content"],
                }
            },
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "retries with the same key get the same ticket",
        }
    ],
}
