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
from channels.web.form import CHANNEL, WebRequest, external_id, field_errors, to_message
from channels.web.status_answers import RATING_ZH, StatusAnswers, page_fields
from intake.api.client_ip import client_ip as client_address
from intake.api.fast_lanes import FastRoute, LaneAnswer, LaneRequest
from intake.api.ratelimit import lookup_within_limits
from intake.catalog import Catalog
from intake.config import HttpSettings, WebSettings
from intake.domain.clock import SHANGHAI, Clock
from intake.domain.enums import RequestType
from intake.domain.errors import InvalidInput, NotFound, TooManyRequests
from intake.ingest.attachments import AttachmentStore
from intake.ingest.gateway import AcceptedReceipt, Gateway, fingerprint
from intake.interfaces import PromptAnswers
from intake.ratelimit.attempts import Limiter
from intake.storage.database import Database

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_JSON_BYTES = 64 * 1024  # also the largest form field that is not a file
MAX_FORM_FIELDS = 50
MAX_NUMBER = 64  # the status form's fields: a ticket number, a query code or a phone


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to a submission: 201 with the receipt, 409, 422 with the field errors, or
    429 over a limit."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] | None = None
    too_many: bool = False  # over a submission limit: nothing was stored

    @classmethod
    def refused(cls, errors: list[dict[str, str]]) -> SubmitResult:
        log.info("web request refused: %s", ", ".join(e["field"] for e in errors))
        return cls(422, {"detail": errors}, errors=errors)


@dataclass(frozen=True, slots=True)
class WebParts:
    """What the web channel uses of the core, handed over by the composition root. The
    status page's lookups, answers and ratings read the database, the gateway's pending
    tickets, the catalogue and the notifier's answers (`status_answers.TicketParts`)."""

    gateway: Gateway
    db: Database
    catalog: Catalog
    limiter: Limiter
    attachments: AttachmentStore
    clock: Clock
    secret_key: str = field(repr=False)  # signs the status page's proof
    answers: PromptAnswers | None
    http: HttpSettings
    web: WebSettings


class WebConnector:
    name = "web"

    def __init__(self, parts: WebParts) -> None:
        self._parts = parts
        self._answers = StatusAnswers(
            self._status,
            channel=CHANNEL,
            tickets=parts,
            clock=parts.clock,
            secret_key=parts.secret_key,
            trusted_proxies=parts.http.trusted_proxies,
        )

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
            "/status",
            self.status_lookup,
            methods=["POST"],
            response_class=HTMLResponse,
            summary="Status lookup (form: number, code or phone)",
        )
        router.add_api_route(
            "/status/reply",
            self._answers.reply,
            methods=["POST"],
            response_class=HTMLResponse,
            summary="The citizen's answer to staff's question (form: proof, answer)",
        )
        router.add_api_route(
            "/status/rate",
            self._answers.rate,
            methods=["POST"],
            response_class=HTMLResponse,
            summary="The citizen's rating after closure (form: proof, rating)",
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
        wants_html, data, uploads = await _read_body(
            request, max_files=self._parts.web.max_attachments + 1
        )
        result = await self.accept(
            data,
            uploads,
            idempotency_key=request.headers.get("idempotency-key"),
            client_ip=client_address(request.scope, self._parts.http.trusted_proxies),
        )
        if result.errors is not None:
            return self._invalid(request, wants_html, data, result.errors)
        if wants_html and result.too_many:  # the form again, the reason by the phone field
            page = self._form(
                request, values=data, errors={"phone": result.body["detail"]}, status_code=429
            )
            page.headers.update(result.headers)
            return page
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
        """Validate, check the limits, store the attachments and make the request durable:
        what both the FastAPI route and the JSON fast lane answer with."""
        try:
            parsed = WebRequest.model_validate(data)
        except ValidationError as exc:
            return SubmitResult.refused(field_errors(exc))
        given = idempotency_key or str(data.get("client_token") or "")
        key = (given or uuid.uuid4().hex)[:200]
        try:  # before anything is stored or numbered; a retry of an accepted one passes
            await self._parts.limiter.admit_submission(
                ip=client_ip,
                sender=parsed.phone,
                idempotency_key=f"{CHANNEL}:{external_id(parsed.phone, key)}" if given else None,
            )
        except TooManyRequests as exc:
            await self._parts.limiter.pause()
            headers = {"Retry-After": str(exc.retry_after)}
            return SubmitResult(429, {"detail": str(exc)}, headers, too_many=True)
        web = self._parts.web
        try:
            attachments = await store_uploads(
                uploads,
                store=self._parts.attachments,
                max_files=web.max_attachments,
                max_bytes=web.max_attachment_bytes,
            )
        except InvalidInput as exc:
            return SubmitResult.refused(
                [{"field": exc.field or "attachments", "message": str(exc)}]
            )
        message = to_message(
            parsed,
            idempotency_key=key,
            attachments=attachments,
            received_at=self._parts.clock(),
            client_ip=client_ip,
        )
        receipt = await self._parts.gateway.submit(message, open_ticket=True)
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
        if receipt.emergency is not None:  # the advice is part of this very answer
            body["emergency"] = {
                "number": receipt.emergency.number,
                "advice": receipt.emergency.advice,
            }
        headers = {"Idempotent-Replayed": "true"} if receipt.duplicate else {}
        return SubmitResult(201, body, headers)

    async def status_page(self, request: Request, number: str | None = None) -> HTMLResponse:
        """The lookup form, with the number of a link filled in. The query code or phone is
        posted (`status_lookup`), never put in a URL, where logs and histories keep it."""
        return self._status(request, {"number": (number or "").strip()[:MAX_NUMBER]})

    async def status_lookup(self, request: Request) -> HTMLResponse:
        """The lookup the form posts, under the same limits as the API's."""
        form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_NUMBER)
        number = str(form.get("number") or "").strip()[:MAX_NUMBER]
        code = str(form.get("code") or "").strip()[:MAX_NUMBER]
        context: dict[str, Any] = {"number": number, "code": code}
        if not (number and code):
            return self._status(request, context)
        digits = code.replace(" ", "").replace("-", "").lstrip("+")
        is_phone = digits.isdigit() and len(digits) >= 11
        try:
            context["status"] = await lookup_within_limits(
                self._parts,
                ip=client_address(request.scope, self._parts.http.trusted_proxies),
                number=number,
                phone=code if is_phone else None,
                code=None if is_phone else code,
            )
        except NotFound:
            return self._status(request, {**context, "not_found": True}, status_code=404)
        except TooManyRequests as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            context["refused"] = str(exc)
            return self._status(request, context, status_code=429, headers=headers)
        context.update(
            page_fields(
                self._answers.proof,
                number=number,
                phone=code if is_phone else None,
                code=None if is_phone else code,
            )
        )
        return self._status(request, context)

    def _status(
        self,
        request: Request,
        context: dict[str, Any],
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "status.html",
            {**context, "tz": SHANGHAI, "ratings": RATING_ZH},
            status_code=status_code,
            # a lookup's page carries the proof of its reply and rating forms: never cached
            headers={"Cache-Control": "no-store", **(headers or {})},
        )

    def _form(
        self,
        request: Request,
        *,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> HTMLResponse:
        web = self._parts.web
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


async def _read_body(
    request: Request, *, max_files: int
) -> tuple[bool, dict[str, Any], list[UploadFile]]:
    """The submission as fields and uploads. The form parser is bounded: files beyond one
    over the attachment limit (which `store_uploads` then refuses with its own message),
    fields, and the size of a field that is not a file; the whole body is bounded by
    `intake.api.body_limit`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return False, parse_json_body(await request.body()), []
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(
            max_files=max_files, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_JSON_BYTES
        )
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
