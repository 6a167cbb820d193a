"""Planner statistics kept fresh while a young PostgreSQL database grows fast.

PostgreSQL plans with the statistics of the last ANALYZE, and autovacuum looks once a minute.
A new deployment, or a backlog after an outage, that takes the tables from empty to tens of
thousands of rows inside that minute runs on plans made for empty tables: the pipeline's
per-batch lookups by key (`channel = … AND external_id IN (…)`) become scans of every row,
and the prepared statements keep those plans. The worker
analyzes its hot tables itself whenever they may have doubled since the last ANALYZE it knows
of: a handful of times while the database is young, then practically never.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from intake.storage.database import Database

log = logging.getLogger(__name__)

HOT_TABLES = ("messages", "tickets", "ticket_events", "citizens", "citizen_identities")
MIN_ROWS = 1000  # below this every plan is cheap enough


class PlannerStatistics:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._enabled = db.dialect == "postgresql"
        self._analyzed: float | None = None  # rows in `messages` at its last ANALYZE
        self._written = 0  # messages this process has written since

    @property
    def enabled(self) -> bool:
        return self._enabled

    async def after_batch(self, messages: int) -> bool:
        """Count a committed batch; ANALYZE when the tables may have doubled. True if it did."""
        if not self._enabled:
            return False
        if self._analyzed is None:
            self._analyzed = await self._rows_at_last_analyze()
        self._written += messages
        if self._written < max(MIN_ROWS, self._analyzed):
            return False
        async with self._db.write() as session, session.begin():
            await session.execute(text(f"ANALYZE {', '.join(HOT_TABLES)}"))
        self._analyzed += self._written
        log.info("analyzed %s (about %d messages)", ", ".join(HOT_TABLES), self._analyzed)
        self._written = 0
        return True

    async def _rows_at_last_analyze(self) -> float:
        async with self._db.read() as session:
            rows = await session.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('messages')")
            )
        return max(float(rows or 0), 0.0)  # -1: never analyzed
