"""staff console: passwords, sessions' lock-out, departments in the database

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from intake.domain.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ACTIVE = "status <> 'closed'"
# the inboxes' default pages: newest first within a status, a department, a flag
_TICKET_INDEXES: tuple[tuple[str, list[str], str | None], ...] = (
    ("ix_tickets_status_id", ["status", "id"], None),
    ("ix_tickets_department_status_id", ["department", "status", "id"], None),
    ("ix_tickets_open_due", ["due_at"], _ACTIVE),
    ("ix_tickets_department_open_due", ["department", "due_at"], _ACTIVE),
    ("ix_tickets_waiting", ["id"], "waiting_since IS NOT NULL"),
    ("ix_tickets_supervision", ["id"], f"supervision AND {_ACTIVE}"),
    ("ix_tickets_repeats", ["repeat_count", "id"], f"repeat_count > 0 AND {_ACTIVE}"),
    ("ix_tickets_query_code", ["query_code"], None),
    ("ix_tickets_extension", ["id"], f"extension_pending IS NOT NULL AND {_ACTIVE}"),
    # triage was unsure (no category, or the fallback): an agent classifies by hand
    ("ix_tickets_unsure", ["id"], "status = 'received' AND (category IS NULL OR category = 'other')"),
)


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_login_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_staff_name", "staff", ["name"])
    op.create_table(
        "departments",
        sa.Column("code", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("hotline", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    for name, columns, where in _TICKET_INDEXES:
        clause = sa.text(where) if where else None
        op.create_index(name, "tickets", columns, postgresql_where=clause, sqlite_where=clause)
    op.create_index("ix_audit_log_subject_action", "audit_log", ["subject", "action", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject_action", table_name="audit_log")
    for name, _, _ in reversed(_TICKET_INDEXES):
        op.drop_index(name, table_name="tickets")
    op.drop_table("departments")
    op.drop_index("ix_staff_name", table_name="staff")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("session_version")
        batch.drop_column("password_hash")

