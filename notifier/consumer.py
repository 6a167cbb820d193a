"""Reads the domain-event stream in the consumer group "notifier" and enqueues jobs.

At-least-once: an entry is acknowledged only after its jobs are enqueued; entries left
pending by a dead consumer are claimed after `claim_idle_ms`. Events that call for no message
(most of them: every delivery writes one) are acknowledged together, without a look at the
database. Duplicates (the outbox relay may
publish an event twice) are dropped by event id, and even when two copies race, their jobs
carry the same deterministic keys, so saq and the delivery record keep one of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from intake.error_summary import describe
from intake.redis.batch import BatchRunner, CommandBatch
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_nogroup, is_outage
from intake.storage.database import Database
from notifier.config import NotifySettings
from notifier.context import JobContext
from notifier.planner import PLANNERS, plan

log = logging.getLogger(__name__)

GROUP = "notifier"
SEEN_TTL = 7 * 86400
CLAIM_EVERY_S = 1.0


class EventConsumer:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        db: Database,
        jc: JobContext,
        cfg: NotifySettings,
        consumer: str | None = None,
    ) -> None:
        self._redis, self._keys, self._db, self._jc, self._cfg = redis, keys, db, jc, cfg
        self._mark_seen = BatchRunner(redis)
        self._next_claim = 0.0
        self.name = consumer or f"{socket.gethostname()}-{os.getpid()}"

    async def ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self._redis.xgroup_create(self._keys.events, GROUP, id="0", mkstream=True)

    async def poll(self, *, block_ms: int | None = None) -> int:
        """Handle what is new (and what a dead consumer left); returns how many entries."""
        entries = await self._claim()
        if not entries:
            read = await self._redis.xreadgroup(
                GROUP,
                self.name,
                {self._keys.events: ">"},
                count=self._cfg.batch_size,
                block=block_ms,
            )
            entries = [e for _, batch in read or [] for e in batch]
        planned = [(i, f) for i, f in entries if f.get("kind") in PLANNERS]
        if planned:
            await self._handle(planned)
        # kinds that call for nothing (above all the notifier's own outcomes) are acknowledged
        # with the rest, after the others' jobs are enqueued
        if entries:
            await self._redis.xack(self._keys.events, GROUP, *(i for i, _ in entries))
        return len(entries)

    async def _claim(self) -> list[tuple[str, dict[str, Any]]]:
        """What a dead consumer left pending: looked for now and then, not before every read."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + min(CLAIM_EVERY_S, self._cfg.claim_idle_ms / 2000)
        reply = await self._redis.xautoclaim(
            self._keys.events,
            GROUP,
            self.name,
            min_idle_time=self._cfg.claim_idle_ms,
            start_id="0-0",
            count=self._cfg.batch_size,
        )
        claimed = [(i, f) for i, f in reply[1] if f]
        if claimed:
            self._next_claim = 0.0  # there may be more
        return claimed

    async def _handle(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Plan the jobs of events not handled before (one database session for all of
        them), enqueue them, then remember the events as handled."""
        seen_keys = [
            self._keys.notified_event(str(fields.get("event_id", entry_id)))
            for entry_id, fields in entries
        ]
        seen = await self._redis.mget(seen_keys)
        fresh = [fields for (_, fields), done in zip(entries, seen, strict=True) if not done]
        if fresh:
            async with self._db.read() as session:
                plans = [await plan(session, fields, self._cfg) for fields in fresh]
            await self._jc.enqueue_all([spec for specs in plans for spec in specs])
            for fields, specs in zip(fresh, plans, strict=True):
                if specs:
                    log.info(
                        "event=%s kind=%s ticket=%s: %d jobs",
                        fields.get("event_id"),
                        fields.get("kind"),
                        fields.get("ticket"),
                        len(specs),
                    )
        batch = CommandBatch()
        for key, done in zip(seen_keys, seen, strict=True):
            if not done:
                batch.set(key, "1", ex=SEEN_TTL)
        await self._mark_seen.run(batch)

    async def run(self, stop: asyncio.Event) -> None:
        outages = OutageGuard("notifier event consumer", logger=log)
        await outages.call(self.ensure_group, stop)
        while not stop.is_set():
            try:
                await self.poll(block_ms=self._cfg.block_ms)
                outages.ok()
            except Exception as exc:  # keep consuming; the entry stays pending and is retried
                if is_nogroup(exc):  # Redis restarted without its data
                    await outages.call(self.ensure_group, stop)
                    continue
                if is_outage(exc):
                    await outages.pause(exc, stop)
                    continue
                log.warning("notifier consumer: %s", describe(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
