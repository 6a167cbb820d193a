"""Tables: citizens and their identities, tickets with their audit trail, messages, staff.

Every state change of a ticket writes a `TicketEvent`; the events double as the transactional
outbox (`published` is false until the relay has put them on the domain-event stream), so a
crash between the commit and the publish loses nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from intake.domain.clock import utcnow

Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    special_reason: Mapped[str | None] = mapped_column(String(100))  # 特服名单
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[CitizenIdentity]] = relationship(back_populates="citizen")


class CitizenIdentity(Base):
    __tablename__ = "citizen_identities"
    __table_args__ = (UniqueConstraint("kind", "account", "value", name="uq_identity"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(320))
    unsubscribed_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    citizen: Mapped[Citizen] = relationship(back_populates="identities")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_department_status", "department", "status"),
        Index("ix_tickets_nearby", "category", "district", "created_at"),  # duplicate search
        Index("ix_tickets_created", "created_at"),  # reports of a period (intake/reports)
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    query_code: Mapped[str] = mapped_column(String(12))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    request_type: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(64))
    co_departments: Mapped[list[Any]] = mapped_column(default=list)
    district: Mapped[str | None] = mapped_column(String(64))
    street: Mapped[str | None] = mapped_column(String(64))
    # one department visit answers all: replies and closure of the master reach this ticket
    master_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    supervision: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办
    # triage asked for a person (no confident category, …) and nobody has classified it since:
    # the agents' 待人工分类
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    contact_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    accept_due_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    extension_pending: Mapped[dict[str, Any] | None]
    # set while the handler waits for the citizen's answer: the deadline clock is stopped
    waiting_since: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    citizen: Mapped[Citizen] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id"
    )
    attachments: Mapped[list[AttachmentRecord]] = relationship(
        back_populates="ticket", order_by="AttachmentRecord.id"
    )


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (
        Index(
            "ix_events_unpublished",
            "id",
            postgresql_where=text("published = false"),
            sqlite_where=text("published = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor_kind: Mapped[str] = mapped_column(String(16))  # citizen | staff | system
    actor_id: Mapped[int | None] = mapped_column(Id)
    actor_name: Mapped[str | None] = mapped_column(String(100))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    message: Mapped[Message | None] = relationship()


class Message(Base):
    """Every inbound message that reached the core, with its raw payload and what it meant."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_message_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(255))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)

    citizen: Mapped[Citizen | None] = relationship()
    ticket: Mapped[Ticket | None] = relationship()


class AttachmentRecord(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="attachments")
    message: Mapped[Message | None] = relationship()


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # the console's sign-in (argon2, intake/console/passwords.py); None: API token only
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # raised by a new password, disabling or rotating: every older console session ends
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_login_at: Mapped[datetime | None]
    contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the department's lead: the first step of the escalation ladder (intake/directory/contacts.py)
    lead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
