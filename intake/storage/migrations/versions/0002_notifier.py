"""notifier: prompts and deliveries

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import intake.domain.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = intake.domain.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("citizen_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("job_key", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reminder_sent", sa.Boolean(), nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("answered_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("job_key"),
    )
    with op.batch_alter_table("prompts") as batch:
        batch.create_index("ix_prompts_ticket_id", ["ticket_id"])
        batch.create_index("ix_prompts_citizen_status", ["citizen_id", "status"])
    op.create_table(
        "deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_key", sa.String(length=160), nullable=False),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_key"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.create_index("ix_deliveries_ticket_id", ["ticket_id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_ticket_id")
    op.drop_table("deliveries")
    with op.batch_alter_table("prompts") as batch:
        batch.drop_index("ix_prompts_citizen_status")
        batch.drop_index("ix_prompts_ticket_id")
    op.drop_table("prompts")
