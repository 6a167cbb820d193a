"""The audit log: who did what to personal data, and when (erasures on request, purges).

Rows name their subject masked (`+86138****5678`), never in clear: the log must not become
the one place that still holds what was erased.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from intake.domain.clock import utcnow
from intake.domain.models import Base, Id


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    operator: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


def record(
    session: AsyncSession,
    *,
    action: str,
    operator: str,
    subject: str,
    at: datetime,
    details: dict[str, Any],
) -> AuditEntry:
    entry = AuditEntry(at=at, action=action, operator=operator, subject=subject, details=details)
    session.add(entry)
    return entry


async def entries(session: AsyncSession, *, action: str, subject: str) -> list[AuditEntry]:
    """Earlier entries of one action on one (masked) subject, oldest first."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.subject == subject)
        .order_by(AuditEntry.id)
    )
    return list(await session.scalars(query))
