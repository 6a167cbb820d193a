"""Department webhooks: registration, the address check, the signature and the payload.

A department's endpoint receives each event of its tickets as JSON, POSTed with
`X-Intake-Timestamp` (Unix seconds) and `X-Intake-Signature: sha256=<hex>`, the HMAC-SHA256
with the department's secret over `<timestamp>.<body>`: the receiver recomputes it, compares
in constant time and refuses stale timestamps, so a captured delivery cannot be replayed
later. `X-Intake-Event-Id` names the event: delivery is at least once, so a receiver drops
an id it has seen.

An address that resolves to loopback, private, link-local or otherwise reserved networks is
refused (at registration and again before each delivery, since DNS can change) unless the
operator allows it: otherwise a webhook would let an admin make the service call into the
networks it runs in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import socket
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.catalog import Catalog
from intake.domain.errors import InvalidInput, NotFound
from intake.domain.models import Ticket
from intake.integration.models import DepartmentWebhook

MIN_SECRET = 16
MAX_URL = 2000
# internal bookkeeping of the service and its notifier: nothing a department acts on
NOT_SENT = frozenset({"notified", "delivery_failed", "delivery_report", "status_query", "triaged"})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes, event_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Intake-Timestamp": str(timestamp),
        "X-Intake-Signature": sign(secret, timestamp, body),
        "X-Intake-Event-Id": event_id,
    }


async def check_url(url: str, *, allow_private: bool) -> None:
    """`InvalidInput` for a URL that is not http(s) or resolves where it must not."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or len(url) > MAX_URL:
        raise InvalidInput("the webhook URL must be an http(s) URL with a host", field="url")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot resolve {parts.hostname}: {exc}", field="url") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise InvalidInput(
                f"{parts.hostname} resolves to {address}, a loopback or private address "
                "(INTAKE_INTEGRATION__WEBHOOK_ALLOW_PRIVATE=true allows it)",
                field="url",
            )


async def register(
    session: AsyncSession,
    *,
    department: str,
    url: str,
    secret: str | None,
    catalog: Catalog,
    allow_private: bool,
    at: datetime,
) -> tuple[DepartmentWebhook, str]:
    """Add or replace the department's webhook; returns it with its secret."""
    catalog.department(department)
    await check_url(url, allow_private=allow_private)
    secret = secret or secrets.token_urlsafe(32)
    if len(secret) < MIN_SECRET:
        raise InvalidInput(f"the secret needs at least {MIN_SECRET} characters", field="secret")
    row = await session.scalar(
        select(DepartmentWebhook).where(DepartmentWebhook.department == department)
    )
    if row is None:
        row = DepartmentWebhook(department=department, created_at=at)
        session.add(row)
    row.url, row.secret, row.active = url, secret, True
    await session.flush()
    return row, secret


async def remove(session: AsyncSession, *, department: str) -> None:
    result = await session.execute(
        delete(DepartmentWebhook).where(DepartmentWebhook.department == department)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"no webhook for department '{department}'")


async def active_hooks(session: AsyncSession) -> dict[str, DepartmentWebhook]:
    rows = await session.scalars(select(DepartmentWebhook).where(DepartmentWebhook.active))
    return {row.department: row for row in rows}


def departments_of(fields: dict[str, Any], data: dict[str, Any]) -> set[str]:
    """Who hears of an event: the ticket's department, and the one that just returned it."""
    found = {str(fields.get("department") or "")}
    found.add(str(data.get("from_department") or ""))
    found.update(str(d) for d in data.get("co_departments") or ())
    return {d for d in found if d}


def payload(fields: dict[str, Any], data: dict[str, Any], ticket: Ticket | None) -> dict[str, Any]:
    """The event as a department sees it: the console's rules, nothing of an anonymous
    citizen (no name, phone or address)."""
    event = {
        "id": str(fields.get("event_id")),
        "kind": fields.get("kind"),
        "at": fields.get("at"),
        "actor": fields.get("actor"),
        "text": data.get("text") if data.get("public", True) else None,
        "data": {k: v for k, v in data.items() if k not in {"text", "public", "actor_id"}},
    }
    body: dict[str, Any] = {"event": event, "ticket": {"number": fields.get("ticket")}}
    if ticket is not None:
        body["ticket"] = {
            "number": ticket.number,
            "status": ticket.status,
            "channel": ticket.channel,
            "request_type": ticket.request_type,
            "category": ticket.category,
            "department": ticket.department,
            "district": ticket.district,
            "street": ticket.street,
            "title": ticket.title,
            "content": ticket.content,
            "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
            "created_at": ticket.created_at.isoformat(),
            "anonymous": ticket.anonymous,
            "supervision": ticket.supervision,
        }
        if not ticket.anonymous:
            body["ticket"].update(
                contact_name=ticket.contact_name,
                contact_phone=ticket.contact_phone,
                address=ticket.address,
                latitude=ticket.latitude,
                longitude=ticket.longitude,
            )
    return body
