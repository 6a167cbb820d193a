"""A department's team-alert target: its WeCom group robot's webhook URL.

A registered URL is called by the service, so it must not become a way to reach internal
addresses: only WeCom's own host (over https) is accepted, unless an operator lists another
host in `INTAKE_WECOM__ROBOT_HOSTS`. The sender checks the same rule again before each call.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from intake.catalog import Catalog
from intake.domain.clock import utcnow
from intake.domain.errors import InvalidInput
from intake.domain.models import Base

ROBOT_HOST = "qyapi.weixin.qq.com"
ROBOT_PATH = "/cgi-bin/webhook/send"


class DepartmentAlerts(Base):
    __tablename__ = "department_alerts"

    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    wecom_robot_url: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def robot_url_problem(url: str, allowed_hosts: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why a robot webhook URL is refused, or None when it may be called.

    `allowed_hosts` are the operator's extra hosts (`host` or `host:port`); WeCom's own host
    is always allowed and only over https.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "not a URL"
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{port}" if port else host
    extra = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if parts.username or parts.password:
        return "must not carry a user name or password"
    if host == ROBOT_HOST and netloc == host:
        if parts.scheme != "https":
            return f"{ROBOT_HOST} is called over https only"
    elif netloc not in extra and host not in extra:
        return f"only {ROBOT_HOST} is accepted (an operator may allow others)"
    elif parts.scheme not in ("https", "http"):
        return "must be an http(s) URL"
    if parts.path != ROBOT_PATH or not parse_qs(parts.query).get("key"):
        return f"must be a group robot URL: {ROBOT_PATH}?key=…"
    return None


def masked_robot_url(url: str | None) -> str:
    if not url:
        return ""
    base, _, query = url.partition("?key=")
    return f"{base}?key={query[:4]}***" if query else base


async def set_robot_url(
    session: AsyncSession,
    *,
    department: str,
    url: str | None,
    catalog: Catalog,
    allowed_hosts: list[str] | tuple[str, ...] = (),
) -> DepartmentAlerts:
    """Register (or with None/"" remove) the department's robot webhook."""
    catalog.department(department)
    if url:
        problem = robot_url_problem(url, allowed_hosts)
        if problem:
            raise InvalidInput(f"robot webhook URL: {problem}", field="url")
    row = await session.get(DepartmentAlerts, department)
    if row is None:
        row = DepartmentAlerts(department=department)
        session.add(row)
    row.wecom_robot_url = url.strip() if url else None
    row.updated_at = utcnow()
    await session.flush()
    return row


async def robot_url(session: AsyncSession, department: str | None) -> str | None:
    if not department:
        return None
    row = await session.get(DepartmentAlerts, department)
    return row.wecom_robot_url if row else None
