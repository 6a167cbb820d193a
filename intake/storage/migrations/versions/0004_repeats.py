"""repeats and duplicates: street, master ticket, index for the duplicate search

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("street", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("master_ticket_id", ID, nullable=True))
        batch.create_foreign_key(
            "fk_tickets_master_ticket_id", "tickets", ["master_ticket_id"], ["id"]
        )
        batch.create_index("ix_tickets_master_ticket_id", ["master_ticket_id"], unique=False)
        batch.create_index(
            "ix_tickets_nearby", ["category", "district", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_nearby")
        batch.drop_index("ix_tickets_master_ticket_id")
        batch.drop_constraint("fk_tickets_master_ticket_id", type_="foreignkey")
        batch.drop_column("master_ticket_id")
        batch.drop_column("street")
