"""Tables of the integrations: API keys, Open311 submissions, webhooks and their dead letters.

A key is stored as the SHA-256 of a long random token (it is shown once). A webhook secret is
stored as given: signing needs it back. Webhooks are keyed by department code, on their own
table, so that they do not depend on how departments themselves are stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from intake.domain.clock import utcnow
from intake.domain.models import Base, Id


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Open311Request(Base):
    """A ticket filed through Open311: which key filed it, as which service, and its token."""

    __tablename__ = "open311_requests"
    __table_args__ = (Index("ix_open311_requests_key_created", "api_key_id", "created_at"),)

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    service_code: Mapped[str] = mapped_column(String(64))
    query_code: Mapped[str] = mapped_column(String(12))
    media_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DepartmentWebhook(Base):
    __tablename__ = "department_webhooks"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    department: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDeadLetter(Base):
    """An event a department's endpoint kept refusing: parked, shown, replayable."""

    __tablename__ = "webhook_dead_letters"
    __table_args__ = (Index("ix_webhook_dead_department", "department", "replayed_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    department: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
