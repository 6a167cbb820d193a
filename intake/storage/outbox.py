"""The relay from the ticket-event table (the outbox) to the domain-event stream.

Events are written in the same transaction as the change they describe, unpublished; the
relay puts them on the stream and only then marks them published. A crash in between means
an event is published twice, never lost; consumers dedupe on `event_id`.

Whoever commits events publishes them at once (the pipeline after each batch, the staff API
after each action) and marks them a moment later. The background relay is the safety net for
a process that died in between: it only takes events older than `RECOVERY_GRACE_S`. Without
that grace it raced every live publisher, republished their just-published events (a
duplicate for each, a batch's worth per second) and held their rows locked against the
publisher's own mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from sqlalchemy import false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.clock import utcnow
from intake.domain.models import Ticket, TicketEvent
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_outage
from intake.storage.database import Database
from intake.storage.sql_shapes import padded

log = logging.getLogger(__name__)

EVENTS_MAXLEN = 1_000_000
RECOVERY_GRACE_S = 10.0
_MARK_SQL = "UPDATE ticket_events SET published = true WHERE id = ANY($1::bigint[])"


class OutboxRelay:
    def __init__(self, *, db: Database, redis: aioredis.Redis, keys: Keys) -> None:
        self._db = db
        self._redis = redis
        self._keys = keys

    async def flush(
        self,
        *,
        limit: int = 1000,
        ticket_id: int | None = None,
        created_before: datetime | None = None,
    ) -> int:
        """Publish up to `limit` unpublished events (of one ticket and the tickets linked to
        it, or made before a time); returns how many were published."""
        async with self._db.write() as session, session.begin():
            query = (
                select(TicketEvent, Ticket)
                .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                .where(TicketEvent.published == false())  # the partial index's own predicate
                .order_by(TicketEvent.id)
                .limit(limit)
            )
            if ticket_id is not None:  # a staff action: the ticket's events and those it
                # passed on to the tickets linked to it (`intake.tickets.linked.pass_on`)
                query = query.where(
                    or_(TicketEvent.ticket_id == ticket_id, Ticket.master_ticket_id == ticket_id)
                )
            if created_before is not None:
                query = query.where(TicketEvent.created_at < created_before)
            if self._db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True, of=TicketEvent)
            rows = (await session.execute(query)).all()
            if not rows:
                return 0
            async with self._redis.pipeline(transaction=False) as pipe:
                for event, ticket in rows:
                    pipe.xadd(
                        self._keys.events,
                        domain_event(event, ticket),
                        maxlen=EVENTS_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
            ids = [event.id for event, _ in rows]
            await session.execute(
                update(TicketEvent).where(TicketEvent.id.in_(ids)).values(published=True)
            )
        log.debug("published %d domain events", len(rows))
        return len(rows)

    async def publish(self, events: list[TicketEvent]) -> None:
        """Publish events just committed by this process, without reading them back."""
        if not events:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue(pipe, events)
            await pipe.execute()
        await self.mark_published(events)

    def queue(self, pipe: Any, events: list[TicketEvent]) -> None:
        """Put events on a pipeline or `CommandBatch`; `mark_published` once it has run."""
        for event in events:
            pipe.xadd(
                self._keys.events,
                domain_event(event, event.ticket),
                maxlen=EVENTS_MAXLEN,
                approximate=True,
            )

    async def mark_published(self, events: list[TicketEvent]) -> None:
        await self.mark_ids([event.id for event in events])

    async def mark_ids(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self._db.write() as session, session.begin():
            await self.mark_ids_in(session, ids)

    async def mark_ids_in(self, session: AsyncSession, ids: list[int]) -> None:
        """Inside the caller's transaction (the pipeline's next batch carries them)."""
        if self._db.dialect == "postgresql":  # one array parameter, one fixed statement text
            connection = await session.connection()
            await connection.exec_driver_sql(_MARK_SQL, (sorted(ids),))
            return
        await session.execute(
            update(TicketEvent)
            .where(TicketEvent.id.in_(padded(sorted(ids))))
            .values(published=True)
            .execution_options(synchronize_session=False)
        )

    async def drain(self, *, created_before: datetime | None = None) -> int:
        total = 0
        while published := await self.flush(created_before=created_before):
            total += published
        return total


def domain_event(event: TicketEvent, ticket: Ticket) -> dict[str, Any]:
    return {
        "event_id": str(event.id),
        "kind": event.kind,
        "ticket": ticket.number,
        "status": ticket.status,
        "channel": ticket.channel,
        "department": ticket.department or "",
        "actor": event.actor_kind,
        "at": event.created_at.isoformat(),
        "data": orjson.dumps(
            {"text": event.text, "public": event.public, "actor_id": event.actor_id, **event.data}
        ),
    }


async def relay_loop(
    relay: OutboxRelay,
    stop: asyncio.Event,
    *,
    interval: float = 1.0,
    grace_s: float = RECOVERY_GRACE_S,
) -> None:
    """Publishes what a process committed but could not publish (it crashed, Redis blinked).
    An outage of Redis or the database is logged once and waited out with backoff."""
    outages = OutageGuard("outbox relay", logger=log)
    while not stop.is_set():
        try:
            await relay.drain(created_before=utcnow() - timedelta(seconds=grace_s))
            outages.ok()
        except Exception as exc:  # keep relaying; the next round retries
            if is_outage(exc):
                await outages.pause(exc, stop)
                continue
            log.warning("outbox relay: %s", type(exc).__name__, exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
