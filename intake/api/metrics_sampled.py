"""Gauges read when `/metrics` is scraped: the intake stream's lag, dead letters, deadlines.

These are states, not events, and every process would report the same one, so the scraping
process reads them from Redis and the database instead of each process counting them. The
deadline counts are a query over open tickets and are kept for `DEADLINE_CACHE_S`; the Redis
reads are one round trip per scrape. A source that does not answer leaves its gauges out of
the scrape (an absent series is what an alert looks for), logged once per outage.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import case, func, select

from intake.domain.enums import TicketStatus
from intake.domain.models import Ticket
from intake.runtime import Runtime
from intake.triage.workdays import add_working_days

log = logging.getLogger(__name__)

DEADLINE_CACHE_S = 15.0
COLOURS = ("green", "yellow", "red", "paused")


class Sampler:
    """One per app: holds the cached deadline counts and whether a source is failing."""

    def __init__(self) -> None:
        self._deadlines: tuple[float, dict[str, int]] | None = None
        self._failing: set[str] = set()

    async def sample(self, runtime: Runtime) -> list[Metric]:
        return [*await self._streams(runtime), *await self._deadline_families(runtime)]

    async def _streams(self, runtime: Runtime) -> list[Metric]:
        keys = runtime.redis.keys
        try:
            async with runtime.redis.client.pipeline(transaction=False) as pipe:
                pipe.xrange(keys.inbound, count=1)
                pipe.xlen(keys.inbound)
                pipe.xlen(keys.deadletter)
                oldest, waiting, dead = await pipe.execute()
        except Exception as exc:
            self._failed("redis", exc)
            return []
        self._recovered("redis")
        lag = max(0.0, time.time() - int(oldest[0][0].split("-")[0]) / 1000) if oldest else 0.0
        return [
            _gauge(
                "intake_pipeline_lag_seconds",
                "Age of the oldest entry waiting on the intake stream",
                lag,
            ),
            _gauge("intake_pipeline_backlog", "Entries waiting on the intake stream", waiting),
            _gauge(
                "intake_dead_letters_waiting",
                "Entries on the dead-letter stream (listed and replayed by `intake deadletter`)",
                dead,
            ),
        ]

    async def _deadline_families(self, runtime: Runtime) -> list[Metric]:
        cached = self._deadlines
        if cached is None or time.monotonic() - cached[0] > DEADLINE_CACHE_S:
            try:
                counts = await open_tickets_by_deadline(runtime, runtime.clock())
            except Exception as exc:
                self._failed("database", exc)
                return []
            self._recovered("database")
            cached = self._deadlines = (time.monotonic(), counts)
        family = GaugeMetricFamily(
            "intake_open_tickets",
            "Open tickets with a deadline, by its colour (yellow: due within a working day; "
            "red: overdue; paused: waiting for the citizen)",
            labels=["deadline"],
        )
        for colour in COLOURS:
            family.add_metric([colour], cached[1][colour])
        return [family]

    def _failed(self, source: str, exc: Exception) -> None:
        if source not in self._failing:
            self._failing.add(source)
            log.warning("metrics: %s gauges left out: %s", source, type(exc).__name__)

    def _recovered(self, source: str) -> None:
        self._failing.discard(source)


async def open_tickets_by_deadline(runtime: Runtime, now: datetime) -> dict[str, int]:
    """One query over the open tickets that have a deadline."""
    yellow_until = add_working_days(now, 1)
    paused = Ticket.waiting_since.is_not(None)
    running = Ticket.waiting_since.is_(None)
    query = select(
        func.count(case((paused, 1))),
        func.count(case((running & (Ticket.due_at <= now), 1))),
        func.count(case((running & (Ticket.due_at > now) & (Ticket.due_at <= yellow_until), 1))),
        func.count(case((running & (Ticket.due_at > yellow_until), 1))),
    ).where(Ticket.status != TicketStatus.CLOSED.value, Ticket.due_at.is_not(None))
    async with runtime.db.read() as session:
        row = (await session.execute(query)).one()
    paused_n, red, yellow, green = (int(n or 0) for n in row)
    return {"green": green, "yellow": yellow, "red": red, "paused": paused_n}


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
