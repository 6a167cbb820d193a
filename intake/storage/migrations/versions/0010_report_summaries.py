"""Report summaries: per-day KPI sums and topic counts, and the triggers that note changed tickets

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from intake.domain.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_SUMS = [
    f"{name}_{part}"
    for name in (
        "sms_reply_rate",
        "on_time_transfer",
        "on_time_reply",
        "closure_rate",
        "direct_answer_rate",
        "actual_resolution_rate",
        "satisfaction_rate",
        "return_rate",
        "extension_rate",
        "repeat_rate",
    )
    for part in ("n", "d")
]
# the ticket columns a report reads: a change to any of them changes the ticket's figures
TICKET_COLUMNS = (
    "created_at",
    "channel",
    "department",
    "status",
    "due_at",
    "repeat_count",
    "category",
    "district",
    "street",
    "title",
)
EVENT_COLUMNS = ("ticket_id", "kind", "data", "created_at")


def _sums() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in _SUMS]


def upgrade() -> None:
    op.create_table(
        "report_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("built_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "report_ticket_facts",
        sa.Column("ticket_id", _ID, primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        *_sums(),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("street", sa.String(130), nullable=True),
        sa.Column("words", sa.JSON(), nullable=False),
    )
    op.create_index("ix_report_ticket_facts_day", "report_ticket_facts", ["day"])
    op.create_table(
        "report_daily",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        *_sums(),
    )
    op.create_table(
        "report_daily_topics",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "report_changes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", _ID, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _changed(new: str, old: str, columns: tuple[str, ...]) -> str:
    """SQL true when a row's report columns differ (json compared as text: it has no `=`)."""
    cast = {"data": "::text"}
    pairs = [
        f"{new}.{c}{cast.get(c, '')} IS DISTINCT FROM {old}.{c}{cast.get(c, '')}" for c in columns
    ]
    return " OR ".join(pairs)


def _postgres_triggers() -> None:
    """Inserts and deletes: statement triggers with transition tables, one INSERT of ids per
    statement (the pipeline inserts many rows at once). Updates: row triggers on the report
    columns only, so the frequent updates of other columns (`published`, `updated_at`) fire
    nothing at all."""
    statement = {
        "report_note_new_tickets": ("tickets", "INSERT", "NEW", "SELECT DISTINCT id FROM rows"),
        "report_note_old_tickets": ("tickets", "DELETE", "OLD", "SELECT DISTINCT id FROM rows"),
        "report_note_new_events": (
            "ticket_events",
            "INSERT",
            "NEW",
            "SELECT DISTINCT ticket_id FROM rows",
        ),
        "report_note_old_events": (
            "ticket_events",
            "DELETE",
            "OLD",
            "SELECT DISTINCT ticket_id FROM rows",
        ),
    }
    for name, (table, when, kind, select) in statement.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO report_changes (ticket_id) {select}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {when} ON {table} REFERENCING {kind} TABLE AS rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    for name, table, key, columns in (
        ("report_note_changed_tickets", "tickets", "id", TICKET_COLUMNS),
        ("report_note_changed_events", "ticket_events", "ticket_id", EVENT_COLUMNS),
    ):
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO report_changes (ticket_id) VALUES (NEW.{key}); "
            f"IF OLD.{key} IS DISTINCT FROM NEW.{key} THEN "
            f"INSERT INTO report_changes (ticket_id) VALUES (OLD.{key}); END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW WHEN ({_changed('NEW', 'OLD', columns)}) EXECUTE FUNCTION {name}()"
        )


def _sqlite_triggers() -> None:
    note = "INSERT INTO report_changes (ticket_id) VALUES"
    for table, noun, key, columns in (
        ("tickets", "tickets", "id", TICKET_COLUMNS),
        ("ticket_events", "events", "ticket_id", EVENT_COLUMNS),
    ):
        op.execute(
            f"CREATE TRIGGER report_note_new_{noun} AFTER INSERT ON {table} "
            f"BEGIN {note} (NEW.{key}); END"
        )
        op.execute(
            f"CREATE TRIGGER report_note_old_{noun} AFTER DELETE ON {table} "
            f"BEGIN {note} (OLD.{key}); END"
        )
        op.execute(
            f"CREATE TRIGGER report_note_changed_{noun} AFTER UPDATE OF {', '.join(columns)} "
            f"ON {table} BEGIN {note} (NEW.{key}); "
            f"INSERT INTO report_changes (ticket_id) SELECT OLD.{key} "
            f"WHERE OLD.{key} IS NOT NEW.{key}; END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, noun in (("tickets", "tickets"), ("ticket_events", "events")):
        for prefix in ("new", "old", "changed"):
            name = f"report_note_{prefix}_{noun}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
            if postgres:
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("report_changes")
    op.drop_table("report_daily_topics")
    op.drop_table("report_daily")
    op.drop_index("ix_report_ticket_facts_day", table_name="report_ticket_facts")
    op.drop_table("report_ticket_facts")
    op.drop_table("report_days")
