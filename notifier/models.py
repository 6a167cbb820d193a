"""Tables of the notifier: prompts (callback surveys, ratings) and deliveries.

A prompt is data, not a message: it has a short code the citizen can quote, an expiry, one
reminder and the answer, so that answers from any channel find their ticket and late answers
are recognised as late. A delivery is the durable record of one job key (one logical message
to one recipient), whatever channels it took, so that a re-run of the job is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from intake.domain.clock import utcnow
from intake.domain.models import Base, Id


class PromptKind(StrEnum):
    SURVEY = "survey"  # 回访: was it solved, and the rating 满意/基本满意/不满意
    DIMENSIONS = "dimensions"  # after 不满意: efficiency, attitude, result and a reason


class PromptStatus(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    EXPIRED = "expired"


class DeliveryStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"  # a crash during the send: not repeated, flagged to staff
    POSTPONED = "postponed"  # quiet hours: waits for the morning
    FAILED = "failed"  # nothing could carry it (a call-back task was created for citizens)
    SKIPPED = "skipped"  # no longer relevant (ticket reopened before its survey, …)


FINAL_DELIVERY = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.UNCONFIRMED, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED}
)


class Prompt(Base):
    __tablename__ = "prompts"
    __table_args__ = (Index("ix_prompts_citizen_status", "citizen_id", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(8), unique=True)
    job_key: Mapped[str] = mapped_column(String(160), unique=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PromptStatus.PENDING.value)
    reminder_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime]
    answer: Mapped[dict[str, Any] | None]
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_key: Mapped[str] = mapped_column(String(160), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    audience: Mapped[str] = mapped_column(String(16))  # citizen | staff
    template: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(64))  # masked
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # delivery reports (SMS DLRs): the state that counts, and a bit per state already seen
    report_state: Mapped[str | None] = mapped_column(String(16))
    report_mask: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    report_detail: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None]
