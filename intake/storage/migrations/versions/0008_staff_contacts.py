"""staff contacts for alerts and alert digests

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from intake.domain.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # contacts stay in staff.contact (JSON); the lead flag is the escalation ladder's first step
    op.add_column(
        "staff", sa.Column("lead", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "department_alerts",
        sa.Column("department", sa.String(length=64), primary_key=True),
        sa.Column("wecom_robot_url", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("department_alerts")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("lead")
