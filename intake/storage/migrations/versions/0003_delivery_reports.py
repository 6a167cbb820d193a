"""delivery reports: the gateway's report state on each delivery

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import intake.domain.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = intake.domain.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("report_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("report_mask", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("report_detail", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reported_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("reported_at")
        batch.drop_column("report_detail")
        batch.drop_column("report_mask")
        batch.drop_column("report_state")
