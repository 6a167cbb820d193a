"""Open311 API keys and department webhooks

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from intake.domain.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "open311_requests",
        sa.Column("number", sa.String(20), primary_key=True),
        sa.Column("api_key_id", _ID, sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("query_code", sa.String(12), nullable=False),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_open311_requests_key_created", "open311_requests", ["api_key_id", "created_at"]
    )
    op.create_table(
        "department_webhooks",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("department", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "webhook_dead_letters",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("ticket", sa.String(20), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_webhook_dead_department", "webhook_dead_letters", ["department", "replayed_at"]
    )
    op.create_index("ix_tickets_created", "tickets", ["created_at"])  # reports of a period


def downgrade() -> None:
    op.drop_index("ix_tickets_created", table_name="tickets")
    op.drop_index("ix_webhook_dead_department", table_name="webhook_dead_letters")
    op.drop_table("webhook_dead_letters")
    op.drop_table("department_webhooks")
    op.drop_index("ix_open311_requests_key_created", table_name="open311_requests")
    op.drop_table("open311_requests")
    op.drop_table("api_keys")
