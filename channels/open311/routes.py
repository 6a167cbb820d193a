"""The routes of `/open311/v2/`: every answer in the format the path names (.json or .xml),
every refusal as the spec's list of errors with the same HTTP status."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from channels.open311 import submit as submission
from channels.open311.formats import Open311Error, answer, error_answer, format_of
from channels.open311.partner_codes import partner_codes
from channels.open311.services import definition, load_services, services_file
from channels.open311.updates import find_updates
from channels.open311.views import MAX_ROWS, Filters, Viewer, find, public_notes, record
from intake.api.client_ip import client_ip
from intake.catalog import Catalog
from intake.config import HttpSettings
from intake.domain.clock import SHANGHAI, Clock
from intake.domain.errors import Forbidden, TooManyRequests
from intake.ingest.gateway import AcceptedReceipt, fingerprint
from intake.integration.apikeys import key_for
from intake.integration.models import ApiKey
from intake.integration.submissions import remember, submission_for_token
from intake.integration_settings import IntegrationSettings
from intake.interfaces import IntakeGateway
from intake.ratelimit.attempts import LOOKUPS_MESSAGE, Limiter, Rule
from intake.storage.database import Database

log = logging.getLogger(__name__)
PREFIX = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
WINDOW = timedelta(days=90)
MAX_FORM_FIELDS = 60
MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Open311Parts:
    """What the Open311 routes use of the core, handed over by the composition root."""

    gateway: IntakeGateway
    db: Database
    catalog: Catalog
    limiter: Limiter
    clock: Clock
    http: HttpSettings
    integration: IntegrationSettings
    public_url: str
    categories_file: Path | None  # the triage catalogue's, whose categories are the services


Handler = Callable[[Request, Open311Parts, str], Awaitable[Response]]


def router(parts: Open311Parts) -> APIRouter:
    """Mount with `app.include_router(router(parts))`."""
    api = APIRouter(prefix=PREFIX, tags=["open311"])
    routes: list[tuple[str, str, Handler, str]] = [
        ("GET", "/discovery.{fmt}", _discovery, "Service discovery"),
        ("GET", "/services.{fmt}", _services, "Service list (the category catalogue)"),
        ("GET", "/services/{code}.{fmt}", _service, "Service definition (attributes)"),
        ("POST", "/requests.{fmt}", _post_request, "Create a service request (api_key)"),
        ("GET", "/requests.{fmt}", _get_requests, "Service requests (own, or the public view)"),
        ("GET", "/requests/{rid}.{fmt}", _get_request, "One service request"),
        ("GET", "/tokens/{token}.{fmt}", _token, "service_request_id from a token"),
        ("GET", "/servicerequestupdates.{fmt}", _updates, "Updates since a time (FixMyStreet)"),
    ]
    for method, path, handler, summary in routes:
        api.add_api_route(path, _guarded(handler, parts), methods=[method], summary=summary)
    return api


def _guarded(handler: Handler, parts: Open311Parts) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        fmt = str(request.path_params.get("fmt", "json"))
        try:
            return await handler(request, parts, format_of(fmt))
        except Open311Error as exc:
            return error_answer(fmt, exc)
        except TooManyRequests as exc:
            refusal = Open311Error(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
            return error_answer(fmt, refusal)

    route.__name__ = handler.__name__.strip("_")
    route.__doc__ = handler.__doc__
    return route


async def _discovery(request: Request, parts: Open311Parts, fmt: str) -> Response:
    base = parts.public_url.rstrip("/") + PREFIX
    data = {
        "changeset": "2026-12-01T00:00:00+08:00",
        "contact": parts.integration.open311_contact,
        "key_service": "intake apikey add NAME (ask the hotline's operator)",
        "endpoints": [
            {
                "specification": SPEC,
                "url": base,
                "changeset": "2026-12-01T00:00:00+08:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return answer(fmt, "discovery", None, data)


async def _services(request: Request, parts: Open311Parts, fmt: str) -> Response:
    services = _catalogue(parts)
    data = [service.record(parts.catalog) for service in services.values()]
    return answer(fmt, "services", "service", data)


async def _service(request: Request, parts: Open311Parts, fmt: str) -> Response:
    code = str(request.path_params["code"])
    service = _catalogue(parts).get(code)
    if service is None:
        raise Open311Error(404, f"service_code '{code[:64]}' not found")
    return answer(fmt, "service_definition", None, definition(service))


async def _post_request(request: Request, parts: Open311Parts, fmt: str) -> Response:
    data = await _posted(request)
    key = await _required_key(parts, data.get("api_key"))
    aliases = partner_codes(parts.integration, key.name)
    posted = submission.parse_request(data, _catalogue(parts), aliases)
    ip = client_ip(request.scope, parts.http.trusted_proxies)
    given = request.headers.get("idempotency-key") or ""
    idempotency = (given or _fresh_key())[:200]
    external = submission.external_id(key.id, idempotency)
    await parts.limiter.admit_submission(
        ip=ip,
        sender=posted.phone or posted.email,
        idempotency_key=f"{submission.CHANNEL}:{external}" if given else None,
    )
    message = submission.to_message(
        posted,
        api_key_id=key.id,
        partner=key.name,
        idempotency_key=idempotency,
        received_at=parts.clock(),
        client_ip=ip,
    )
    receipt = await parts.gateway.submit(message, open_ticket=True)
    changed = isinstance(receipt, AcceptedReceipt) and receipt.fingerprint != fingerprint(message)
    if receipt.duplicate and changed:
        raise Open311Error(409, "Idempotency-Key was used for a different request")
    assert receipt.number and receipt.query_code, "a new ticket always has its number"
    async with parts.db.write() as session, session.begin():
        row = await remember(
            session,
            number=receipt.number,
            api_key_id=key.id,
            service_code=posted.service.code,
            query_code=receipt.query_code,
            media_url=posted.media_url,
            at=message.received_at,
        )
    notice = f"工单编号 {receipt.number}，查询码 {receipt.query_code}（请转告诉求人，凭此查询进度）"
    if receipt.emergency is not None:
        notice = f"{receipt.emergency.advice} {notice}"
    data_out = [
        {
            "service_request_id": receipt.number,
            "token": row.token,
            "service_notice": notice,
            "account_id": None,
        }
    ]
    return answer(fmt, "service_requests", "request", data_out, status=201)


async def _get_requests(request: Request, parts: Open311Parts, fmt: str) -> Response:
    viewer = await _viewer(request, parts)
    query = request.query_params
    ids = _list(query.get("service_request_id"))
    if ids:
        filters = Filters(ids=ids[:MAX_ROWS])
    else:
        start, end = _window(query.get("start_date"), query.get("end_date"), parts.clock())
        statuses = _list(query.get("status"))
        if set(statuses) - {"open", "closed"}:
            raise Open311Error(400, "status takes open, closed or both (comma-separated)")
        aliases = partner_codes(parts.integration, viewer.partner or "")
        filters = Filters(
            service_code=tuple(aliases.get(c, c) for c in _list(query.get("service_code"))),
            start=start,
            end=end,
            statuses=statuses,
        )
    return answer(fmt, "service_requests", "request", await _records(parts, viewer, filters))


async def _get_request(request: Request, parts: Open311Parts, fmt: str) -> Response:
    viewer = await _viewer(request, parts)
    rid = str(request.path_params["rid"])[:40]
    records = await _records(parts, viewer, Filters(ids=(rid,)))
    if not records:
        raise Open311Error(404, f"service_request_id '{rid}' not found")
    return answer(fmt, "service_requests", "request", records)


async def _token(request: Request, parts: Open311Parts, fmt: str) -> Response:
    await _limit_lookup(request, parts)
    token = str(request.path_params["token"])[:64]
    async with parts.db.read() as session:
        row = await submission_for_token(session, token)
    if row is None:
        raise Open311Error(404, "token not found")
    return answer(
        fmt, "service_requests", "request", [{"service_request_id": row.number, "token": row.token}]
    )


async def _updates(request: Request, parts: Open311Parts, fmt: str) -> Response:
    viewer = await _viewer(request, parts)
    query = request.query_params
    start, end = _window(query.get("start_date"), query.get("end_date"), parts.clock())
    async with parts.db.read() as session:
        updates = await find_updates(session, viewer, start=start, end=end)
    return answer(fmt, "service_requests_updates", "request_update", updates)


async def _records(parts: Open311Parts, viewer: Viewer, filters: Filters) -> list[dict[str, Any]]:
    services = _catalogue(parts)
    async with parts.db.read() as session:
        rows = await find(session, viewer, filters)
        notes = await public_notes(session, [t for t, _ in rows if t is not None])
    full = viewer.api_key_id is not None
    return [
        record(
            ticket,
            row,
            services=services,
            catalog=parts.catalog,
            note=notes.get(ticket.id) if ticket else None,
            full=full,
        )
        for ticket, row in rows
    ]


async def _viewer(request: Request, parts: Open311Parts) -> Viewer:
    """A key sees its own requests; no key, the public view if published, else nothing."""
    given = request.query_params.get("api_key")
    if given:
        key = await _required_key(parts, given)
        return Viewer(api_key_id=key.id, partner=key.name)
    if not parts.integration.open311_public_view:
        raise Open311Error(403, "api_key is required: this hotline publishes no public view")
    await _limit_lookup(request, parts)
    return Viewer(api_key_id=None)


async def _required_key(parts: Open311Parts, given: str | None) -> ApiKey:
    if not given:
        raise Open311Error(403, "api_key is required")
    async with parts.db.read() as session:
        try:
            key = await key_for(session, given[:200])
        except Forbidden:
            await parts.limiter.pause()
            raise Open311Error(403, "api_key is not valid") from None
    if refusal := await parts.limiter.hit(Rule.API_KEY_REQUESTS, f"apikey:{key.id}"):
        await parts.limiter.pause()
        raise TooManyRequests("too many requests for this api_key", retry_after=refusal.retry_after)
    return key


async def _limit_lookup(request: Request, parts: Open311Parts) -> None:
    ip = client_ip(request.scope, parts.http.trusted_proxies) or "unknown"
    if refusal := await parts.limiter.hit(Rule.LOOKUPS_PER_IP, ip):
        await parts.limiter.pause()
        raise TooManyRequests(LOOKUPS_MESSAGE, retry_after=refusal.retry_after)


async def _posted(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        import orjson

        try:
            raw = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise Open311Error(400, "the body is not valid JSON") from None
        if not isinstance(raw, dict):
            raise Open311Error(400, "the JSON body must be an object")
        return {str(k): str(v) for k, v in raw.items() if v is not None}
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form(
            max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES
        )
        return {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)}
    raise Open311Error(400, "post the request as application/x-www-form-urlencoded")


def _catalogue(parts: Open311Parts) -> dict[str, submission.Service]:
    return load_services(services_file(parts.categories_file))


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _time(value: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO 8601 date and time") from None
    return at if at.tzinfo else at.replace(tzinfo=SHANGHAI)


def _window(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The spec's range: the last 90 days unless given, and never more than 90 days."""
    begin = _time(start, "start_date") if start else None
    until = _time(end, "end_date") if end else None
    if begin is None and until is None:
        return now - WINDOW, now
    if begin is None:
        assert until is not None
        return until - WINDOW, until
    until = until or begin + WINDOW
    if until < begin:
        raise Open311Error(400, "end_date is before start_date")
    if until - begin > WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return begin, until


def _fresh_key() -> str:
    import uuid

    return uuid.uuid4().hex
