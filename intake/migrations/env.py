"""Alembic environment: runs on a connection handed in by `intake.migrate` (async engines)."""

from __future__ import annotations

from alembic import context

import intake.audit  # noqa: F401  (the audit log)
import notifier.models  # noqa: F401  (prompts, deliveries: the notifier's tables)
from intake.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `intake db upgrade` (intake.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
