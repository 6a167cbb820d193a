"""The report summary worker (`intake worker --only reports`): every `every_s` seconds it
summarises the days not yet summarised and folds in the tickets changed since the last
round, so that a report corrects for a few tickets at most. Reports stay exact without it,
only slower: what it has not taken in they count live."""

from __future__ import annotations

import asyncio
import logging

from intake.domain.clock import Clock
from intake.reports.summary_builder import DAYS_PER_TRANSACTION, refresh
from intake.resilience import wait_or_stop
from intake.storage.database import Database

log = logging.getLogger(__name__)

EVERY_S = 30.0
DAYS_PER_ROUND = 4 * DAYS_PER_TRANSACTION  # the first rounds on a large database go on at once


async def run_report_summaries(
    db: Database, *, clock: Clock, stop: asyncio.Event, every_s: float = EVERY_S
) -> None:
    while not stop.is_set():
        progress = await refresh(db, now=clock(), max_days=DAYS_PER_ROUND)
        if progress.days_built or progress.tickets_folded:
            log.debug(
                "report summaries: %d days built, %d tickets folded in",
                progress.days_built,
                progress.tickets_folded,
            )
        if progress.days_built < DAYS_PER_ROUND:
            await wait_or_stop(stop, every_s)
