"""`POST requests`: a partner's request, validated, turned into the normalized message.

The parsing is pure: `parse_request` takes the posted fields and returns the validated
request or raises `Open311Error(400)` naming what is wrong, as the spec's errors do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.open311.formats import Open311Error
from channels.open311.services import TYPE_ATTRIBUTE, Service
from intake.domain.enums import RequestType
from intake.domain.errors import InvalidInput
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)
from intake.domain.phones import normalize_phone

CHANNEL = "open311"
MAX_DESCRIPTION = 5000
MAX_FIELD = 300
MIN_DESCRIPTION = 5


@dataclass(frozen=True, slots=True)
class PostedRequest:
    service: Service
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None
    name: str | None
    phone: str | None
    email: str | None
    media_url: str | None
    request_type: str | None
    device_id: str | None
    given_code: str | None = None  # the partner's own code, when it was mapped to ours


def parse_request(
    data: dict[str, str], services: dict[str, Service], aliases: Mapping[str, str] | None = None
) -> PostedRequest:
    """`aliases`: the partner's own service codes mapped to ours (`partner_codes`)."""
    given = _field(data, "service_code")
    if not given:
        raise Open311Error(400, "service_code is required")
    code = (aliases or {}).get(given, given)
    if code not in services:
        raise Open311Error(404, f"service_code '{given[:64]}' not found")
    latitude, longitude = _coordinates(data)
    address = _field(data, "address_string") or _field(data, "address_id")
    if latitude is None and not address:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    description = (data.get("description") or "").strip()
    if len(description) < MIN_DESCRIPTION:
        raise Open311Error(400, f"description is required (at least {MIN_DESCRIPTION} characters)")
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    media_url = _field(data, "media_url")
    if media_url and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    name = " ".join(p for p in (_field(data, "last_name"), _field(data, "first_name")) if p)
    return PostedRequest(
        service=services[code],
        description=description,
        latitude=latitude,
        longitude=longitude,
        address=address,
        name=name or None,
        phone=_phone(_field(data, "phone")),
        email=_email(_field(data, "email")),
        media_url=media_url,
        request_type=_request_type(data.get(f"attribute[{TYPE_ATTRIBUTE}]")),
        device_id=_field(data, "device_id"),
        given_code=given if given != code else None,
    )


def external_id(api_key_id: int, idempotency_key: str) -> str:
    """Scoped by the key, so that one partner's retry key never meets another's."""
    return hashlib.sha256(f"{api_key_id}|{idempotency_key}".encode()).hexdigest()[:40]


def to_message(
    request: PostedRequest,
    *,
    api_key_id: int,
    partner: str,
    idempotency_key: str,
    received_at: datetime,
    client_ip: str | None,
) -> InboundMessage:
    """The citizen is who the contact names (answered and surveyed there); without one, the
    partner's device, or the partner itself."""
    if request.phone:
        sender = SenderIdentity(IdentityKind.PHONE, request.phone, display_name=request.name)
    elif request.email:
        sender = SenderIdentity(IdentityKind.EMAIL, request.email, display_name=request.name)
    else:
        device = request.device_id or idempotency_key
        sender = SenderIdentity(IdentityKind.WEB, f"{partner}:{device}"[:200], account=CHANNEL)
    attachments = ()
    if request.media_url:
        attachments = (
            Attachment(
                filename="media", content_type="application/octet-stream", url=request.media_url
            ),
        )
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id(api_key_id, idempotency_key),
        sender=sender,
        kind=MessageKind.FORM,
        received_at=received_at,
        text=request.description,
        attachments=attachments,
        location=Location(request.latitude, request.longitude, request.address),
        raw={
            "service_code": request.service.code,
            "partner_service_code": request.given_code,
            "partner": partner,
            "client_ip": client_ip,
        },
        fields={
            "request_type": request.request_type,
            "contact_phone": request.phone,
            "contact_email": request.email,
            "contact_name": request.name,
            "anonymous": not (request.name or request.phone or request.email),
            "title": f"{request.service.name}：{request.description.splitlines()[0][:40]}",
            "service_code": request.service.code,
            "open311_key": api_key_id,
        },
    )


def _field(data: dict[str, str], name: str) -> str | None:
    value = (data.get(name) or "").strip()
    if len(value) > MAX_FIELD:
        raise Open311Error(400, f"{name} is longer than {MAX_FIELD} characters")
    return value or None


def _coordinates(data: dict[str, str]) -> tuple[float | None, float | None]:
    lat, long = _field(data, "lat"), _field(data, "long")
    if lat is None and long is None:
        return None, None
    try:
        latitude, longitude = float(lat or ""), float(long or "")
    except ValueError:
        raise Open311Error(400, "lat and long must both be decimal degrees") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise Open311Error(400, "lat or long is out of range")
    return latitude, longitude


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_phone(value)
    except InvalidInput:
        raise Open311Error(400, "phone is not a valid phone number") from None


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    local, at, domain = value.partition("@")
    if not (local and at and "." in domain) or any(c.isspace() for c in value):
        raise Open311Error(400, "email is not a valid address")
    return value.lower()


def _request_type(value: Any) -> str | None:
    if not value:
        return None
    try:
        return RequestType(str(value).strip()).value
    except ValueError:
        known = ", ".join(t.value for t in RequestType)
        raise Open311Error(400, f"attribute[{TYPE_ATTRIBUTE}] must be one of {known}") from None
