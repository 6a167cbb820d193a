"""tickets.needs_human: triage asked for a person (the agents' 待人工分类); inbox indexes

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_UNSURE = "status = 'received' AND needs_human"
# a handler's 已超期 (their department's open tickets past due, not waiting for the citizen) and
# 延期答复 (tickets with an extension answered lately): read by every handler's menu
_INDEXES: tuple[tuple[str, str, list[str], str], ...] = (
    (
        "ix_tickets_department_overdue",
        "tickets",
        ["department", "due_at"],
        "status <> 'closed' AND waiting_since IS NULL",
    ),
    (
        "ix_events_extension_answers",
        "ticket_events",
        ["created_at"],
        "kind IN ('extension_granted', 'extension_rejected')",
    ),
)
# the flag as the `triaged` event recorded it, for the tickets triaged before the column
_FLAGGED = {
    "postgresql": "(e.data ->> 'needs_human')::boolean",
    "sqlite": "json_extract(e.data, '$.needs_human') = 1",
}


def upgrade() -> None:
    op.add_column(  # a plain ADD COLUMN: no table copy that would drop the tickets' triggers
        "tickets", sa.Column("needs_human", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.drop_index("ix_tickets_unsure", table_name="tickets")
    clause = sa.text(_UNSURE)
    op.create_index(
        "ix_tickets_needs_human", "tickets", ["id"], postgresql_where=clause, sqlite_where=clause
    )
    for name, table, columns, where in _INDEXES:
        clause = sa.text(where)
        op.create_index(name, table, columns, postgresql_where=clause, sqlite_where=clause)
    flagged = _FLAGGED[op.get_bind().dialect.name]
    op.execute(
        "UPDATE tickets SET needs_human = true WHERE status = 'received'"
        " AND EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = tickets.id"
        f" AND e.kind = 'triaged' AND {flagged})"
        " AND NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = tickets.id"
        " AND e.kind = 'categorized')"
    )


def downgrade() -> None:
    for name, table, _, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_tickets_needs_human", table_name="tickets")
    clause = sa.text("status = 'received' AND (category IS NULL OR category = 'other')")
    op.create_index(
        "ix_tickets_unsure", "tickets", ["id"], postgresql_where=clause, sqlite_where=clause
    )
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("needs_human")
