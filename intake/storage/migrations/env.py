"""Alembic environment: runs on a connection handed in by `intake.storage.migrate` (async engines).

`target_metadata` is the core's: the composition root registers the notifier's tables on it
(`service.wiring` imports `notifier.models`), so a migration generated from a process that
imported the root sees every table.
"""

from __future__ import annotations

from alembic import context

import intake.privacy.audit  # noqa: F401  (the audit log)
from intake.domain.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `intake db upgrade` (intake.storage.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
