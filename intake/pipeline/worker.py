"""The pipeline worker: intake stream → steps → one commit per batch → ack → publish.

At-least-once with idempotent processing: an entry is acknowledged only after its database
commit; entries left pending by a dead worker are claimed after `claim_idle_ms`; an entry
that keeps failing is moved to the dead-letter stream with its reason after `max_attempts`.
A Redis or database outage is no failure of an entry: the worker waits it out with backoff
(the batch in hand is committed, or acknowledged, once the server is back), then reads again
what it had been given before the outage, and recreates its consumer group if Redis lost it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import ResponseError
from sqlalchemy.exc import DBAPIError

from intake import metrics
from intake.config import PipelineSettings
from intake.domain.clock import Clock, utcnow
from intake.domain.enums import Intent
from intake.domain.messages import InboundMessage
from intake.domain.models import TicketEvent
from intake.error_summary import describe
from intake.ingest import outcomes
from intake.ingest.deadletter import bury
from intake.ingest.gateway import Gateway
from intake.ingest.replies import reply_for
from intake.interfaces import PromptAnswers
from intake.pipeline.context import Batch, Context
from intake.pipeline.intent import count_senders
from intake.pipeline.steps import DEFAULT_STEPS, Step
from intake.redis.batch import BatchRunner, CommandBatch
from intake.redis.connection import RedisHandle
from intake.redis.keys import PIPELINE_GROUP, Keys
from intake.resilience import OutageGuard, is_nogroup, is_outage
from intake.storage import bulk_insert
from intake.storage.database import Database
from intake.storage.outbox import OutboxRelay
from intake.storage.planner_statistics import PlannerStatistics
from intake.triage.kit import TriageKit

log = logging.getLogger(__name__)

BATCH_ATTEMPTS = 3  # a batch that meets a concurrent writer is run again this many times
# Events put on the stream are marked published in the next batch's transaction; an idle
# worker marks them on their own after this long (the outbox relay could publish them again
# meanwhile, which consumers tolerate: they dedupe on event_id).
MARK_IDLE_MS = 50
# a read finding fewer entries lingers for more (PipelineSettings.linger_below says why)
LINGER_BELOW_BESIDE_HTTP = 16
LINGER_BELOW_OWN = 4
CLAIM_EVERY_S = 1.0  # looks for a dead worker's entries at most this often (and per batch at most)
_CONFLICT_STATES = {"23505", "40001", "40P01"}  # unique violation, serialization, deadlock

_COUNT_ATTEMPTS = """
local counts = {}
for i, entry in ipairs(ARGV) do counts[i] = redis.call('HINCRBY', KEYS[1], entry, 1) end
return counts
"""


@dataclass
class Entry:
    id: str
    fields: dict[str, str]
    message: InboundMessage
    payload: dict[str, Any]


class PipelineWorker:
    def __init__(
        self,
        *,
        db: Database,
        redis: RedisHandle,
        gateway: Gateway,
        relay: OutboxRelay,
        settings: PipelineSettings,
        steps: tuple[Step, ...] = DEFAULT_STEPS,
        clock: Clock = utcnow,
        consumer: str | None = None,
        triage: TriageKit | None = None,
        answers: PromptAnswers | None = None,
        beside_http: bool = False,
        secret: str = "",
    ) -> None:
        self._db = db
        self._redis = redis.client
        self._keys: Keys = redis.keys
        self._gateway = gateway
        self._relay = relay
        self._settings = settings
        self._steps = steps
        self._triage = triage
        self._answers = answers
        self._secret = secret  # keys the pseudonyms that stand for senders in Redis keys
        self._clock = clock
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._run_batch = BatchRunner(self._redis)
        self._settling: asyncio.Task[None] | None = None
        self._count_attempts = self._redis.register_script(_COUNT_ATTEMPTS)
        self._statistics = PlannerStatistics(db)
        self._unmarked: list[int] = []  # published events not yet marked so in the database
        self._next_claim = 0.0
        self.backlog = asyncio.Event()  # set when a read finds a full batch waiting
        self.outages = OutageGuard(f"pipeline worker {self.consumer}", logger=log)
        self._stop: asyncio.Event | None = None  # set: outages are waited out, not raised
        self._own_pending = False  # after an outage: read again what this consumer was given
        self._linger_below = settings.linger_below
        if self._linger_below is None:
            self._linger_below = LINGER_BELOW_BESIDE_HTTP if beside_http else LINGER_BELOW_OWN

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(
                self._keys.inbound, PIPELINE_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        self.bind(stop)
        await self.outages.call(self.ensure_group, stop)
        log.info("pipeline worker %s started", self.consumer)
        try:
            while not stop.is_set():
                try:
                    if await self.run_once(overlap=True) >= self.batch_size:
                        self.backlog.set()
                    self.outages.ok()
                except Exception as exc:
                    await self.recover(exc)
        finally:
            await self.pause_quietly()

    def bind(self, stop: asyncio.Event) -> None:
        """Wait out outages met in a batch until `stop` (without, they are raised)."""
        self._stop = stop

    async def recover(self, exc: Exception) -> None:
        """After a lap failed because of an outage (else `exc` is raised): wait, then
        recreate the consumer group if Redis lost it, and read this consumer's entries again."""
        if is_nogroup(exc):
            log.warning("pipeline worker %s: consumer group gone; recreating it", self.consumer)
            await self.outages.call(self.ensure_group, self._stop)
            return
        if not is_outage(exc):
            raise exc
        self._own_pending = True
        await self.outages.pause(exc, self._stop)

    async def pause_quietly(self) -> None:
        """`pause` when stopping, even with Redis or the database away."""
        try:
            await self.pause()
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("pipeline worker %s stopped during an outage", self.consumer)

    @property
    def batch_size(self) -> int:
        return self._settings.batch_size

    async def pause(self) -> None:
        """Finish the last batch's acknowledgement and marks: nothing is left half done."""
        await self.settled()
        await self._mark_leftover()

    async def run_once(self, *, block_ms: int | None = None, overlap: bool = False) -> int:
        """Process one batch (claimed stale entries first); returns how many entries.

        With `overlap` the batch's acknowledgement may still be running when this returns
        (the next call or `settled()` waits for it).
        """
        linger = block_ms is None  # a running worker (not a drain) gathers small batches
        if self._unmarked:  # an idle worker must not hold them for a whole block
            block_ms = min(block_ms or self._settings.block_ms, MARK_IDLE_MS)
        raw = (
            await self._claim()
            or await self._read_own()
            or await self._read(block_ms, linger=linger)
        )
        if not raw:
            await self.settled()
            await self._mark_leftover()
            return 0
        entries = await self._decode(raw)
        if entries:
            started = time.perf_counter()
            await self._process(entries)
            metrics.batch_processed(size=len(entries), seconds=time.perf_counter() - started)
        if not overlap:
            await self.settled()
        return len(raw)

    async def settled(self) -> None:
        """Wait for the last batch's acknowledgement; its failure is raised here."""
        task, self._settling = self._settling, None
        if task is not None:
            await task

    async def drain(self, *, limit_s: float = 60.0) -> None:
        """Process until the intake stream is empty: for tests, the CLI and the benchmark."""
        await self.ensure_group()
        async with asyncio.timeout(limit_s):
            while True:
                if await self.run_once(block_ms=1, overlap=True):
                    continue
                if not await self._redis.xlen(self._keys.inbound):
                    return
                await asyncio.sleep(0.01)  # failed entries wait until they may be claimed

    async def _mark_leftover(self) -> None:
        """Marks that no next batch will carry (the worker is idle or stopping)."""
        if self._unmarked:
            marking = list(self._unmarked)
            await self._relay.mark_ids(marking)
            del self._unmarked[: len(marking)]

    async def _claim(self) -> list[tuple[str, dict[str, str]]]:
        """A dead worker's entries are claimed after `claim_idle_ms`: looking for them before
        every batch (one more round trip each) finds nothing almost always."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + min(CLAIM_EVERY_S, self._settings.claim_idle_ms / 2000)
        reply = await self._redis.xautoclaim(
            self._keys.inbound,
            PIPELINE_GROUP,
            self.consumer,
            min_idle_time=self._settings.claim_idle_ms,
            start_id="0-0",
            count=self._settings.batch_size,
        )
        claimed = [(i, f) for i, f in reply[1] if f]
        if claimed:
            log.info("claimed %d pending entries from dead or slow workers", len(claimed))
            self._next_claim = 0.0  # there may be more
        return claimed

    async def _read_own(self) -> list[tuple[str, dict[str, str]]]:
        """After an outage: what this consumer read but did not acknowledge (else it would
        wait `claim_idle_ms` for a claim). Processing is idempotent, so a batch committed
        just before Redis went away is only acknowledged now."""
        if not self._own_pending:
            return []
        await self.settled()
        reply = await self._redis.xreadgroup(
            PIPELINE_GROUP,
            self.consumer,
            {self._keys.inbound: "0"},
            count=self._settings.batch_size,
        )
        entries = [(i, f) for i, f in (reply[0][1] if reply else []) if f]
        if not entries:
            self._own_pending = False
        return entries

    async def _read(
        self, block_ms: int | None, *, linger: bool = False
    ) -> list[tuple[str, dict[str, str]]]:
        reply = await self._redis.xreadgroup(
            PIPELINE_GROUP,
            self.consumer,
            {self._keys.inbound: ">"},
            count=self._settings.batch_size,
            block=self._settings.block_ms if block_ms is None else block_ms,
        )
        entries = list(reply[0][1]) if reply else []
        settings = self._settings
        if linger and 0 < len(entries) < self._linger_below and settings.linger_ms:
            await asyncio.sleep(settings.linger_ms / 1000)
            more = await self._redis.xreadgroup(
                PIPELINE_GROUP,
                self.consumer,
                {self._keys.inbound: ">"},
                count=settings.batch_size - len(entries),
            )
            if more:
                entries.extend(more[0][1])
        return entries

    async def _decode(self, raw: list[tuple[str, dict[str, str]]]) -> list[Entry]:
        attempts = await self._count_attempts(
            keys=[self._keys.attempts], args=[entry_id for entry_id, _ in raw]
        )
        entries = []
        for (entry_id, fields), tries in zip(raw, attempts, strict=True):
            entry = await self._decode_one(entry_id, fields, int(tries))
            if entry is not None:
                entries.append(entry)
        return entries

    async def _decode_one(self, entry_id: str, fields: dict[str, str], tries: int) -> Entry | None:
        if tries > self._settings.max_attempts:
            error = await self._redis.hget(self._keys.attempts, f"{entry_id}:error")
            await bury(
                self._redis,
                self._keys,
                entry_id=entry_id,
                fields=fields,
                attempts=tries - 1,
                reason=f"failed {tries - 1} times: {error or 'worker died while processing'}",
            )
            return None
        try:
            payload = orjson.loads(fields["msg"])
            message = InboundMessage.from_dict(payload)
        except (KeyError, ValueError, TypeError) as exc:
            await bury(
                self._redis,
                self._keys,
                entry_id=entry_id,
                fields=fields,
                attempts=tries,
                reason=f"unreadable entry={entry_id}: {describe(exc)}",
            )
            return None
        return Entry(id=entry_id, fields=fields, message=message, payload=payload)

    async def _process(self, entries: list[Entry]) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                contexts, events = await self._commit(entries)
                break
            except Exception as exc:
                if await self._waited_out(exc):
                    attempt = 0  # the database is back: the same batch again
                    continue
                if attempt < BATCH_ATTEMPTS and _concurrent_conflict(exc):
                    # another worker wrote the same new citizen first, the two locked rows in
                    # opposite orders, or the connection died: run the batch again
                    log.info(
                        "batch of %d met a concurrent write (%s); again",
                        len(entries),
                        describe(exc),
                    )
                    continue
                # one bad message must not block the batch: retry one by one
                log.warning(
                    "batch of %d failed (%s); retrying one by one", len(entries), describe(exc)
                )
                for entry in entries:
                    await self._process_alone(entry)
                return
        _log_batch(contexts)
        _count_committed(contexts, events)
        # Acknowledge this batch while the next one is read and processed: the two overlap on
        # Redis and the database instead of one waiting for the other. At most one is pending.
        await self.settled()
        self._settling = asyncio.create_task(self._done(entries, contexts, events))

    async def _process_alone(self, entry: Entry) -> None:
        try:
            contexts, events = await self._commit([entry])
        except Exception as exc:
            if is_outage(exc):  # not this entry's fault: it is read again after the outage
                raise
            # by type, statement and place: the message and its parameters are personal data
            reason = describe(exc)
            log.error(
                "entry=%s channel=%s external_id=%s failed: %s",
                entry.id,
                entry.message.channel,
                entry.message.external_id,
                reason,
            )
            await self._redis.hset(self._keys.attempts, f"{entry.id}:error", reason)
            return
        _count_committed(contexts, events)
        await self._done([entry], contexts, events)

    async def _commit(self, entries: list[Entry]) -> tuple[list[Context], list[TicketEvent]]:
        """Run the steps for every entry in one transaction; returns them and their events."""
        marking = list(self._unmarked)  # the last batches' published events, marked here
        async with self._db.write() as session, session.begin():
            if marking:
                await self._relay.mark_ids_in(session, marking)
            bulk_insert.enable(session)
            batch = Batch(
                session=session,
                gateway=self._gateway,
                clock=self._clock,
                triage=self._triage,
                flood_per_hour=self._settings.flood_per_hour,
                secret=self._secret,
                answers=self._answers,
                single_open_channels=frozenset(self._settings.single_open_follow_up),
                pipeline=self._settings,
            )
            await batch.prefetch([e.message for e in entries])
            contexts = [
                Context(
                    entry_id=entry.id,
                    message=entry.message,
                    batch=batch,
                    number=entry.fields.get("number") or None,
                    query_code=entry.fields.get("code") or None,
                    payload=entry.payload,
                )
                for entry in entries
            ]
            await count_senders(contexts)
            for ctx in contexts:
                await self._run_steps(ctx)
        del self._unmarked[: len(marking)]  # committed; `_done` only appends meanwhile
        return contexts, batch.events

    async def _run_steps(self, ctx: Context) -> None:
        for step in self._steps:
            await step(ctx)
            if ctx.stopped:
                log.info(
                    "entry=%s channel=%s external_id=%s stopped: %s",
                    ctx.entry_id,
                    ctx.message.channel,
                    ctx.message.external_id,
                    ctx.stopped,
                )
                return

    def _instant_reply(self, ctx: Context) -> outcomes.Reply | None:
        """New requests are acknowledged by the notifier (ticket event); the rest here. The
        core chooses what to say; the notifier renders it (`notifier.instant`)."""
        if ctx.intent is Intent.NEW_REQUEST:
            return None
        return reply_for(outcomes.Outcome.of(ctx))

    async def _done(
        self, entries: list[Entry], contexts: list[Context], events: list[TicketEvent]
    ) -> None:
        """One atomic script call: ack, outcomes, replies and the domain events of the batch."""
        ids = [e.id for e in entries]
        batch = CommandBatch()
        batch.xack(self._keys.inbound, PIPELINE_GROUP, *ids)
        batch.xdel(self._keys.inbound, *ids)
        batch.hdel(self._keys.attempts, *ids, *(f"{i}:error" for i in ids))
        for entry in entries:  # kept a little longer: a lookup may be between its two reads
            if number := entry.fields.get("number"):
                batch.expire(self._keys.pending_ticket(number), 60)
        for ctx in contexts:
            channel = ctx.message.channel
            if channel not in self._settings.no_outcome_channels:
                outcomes.store(batch, self._keys, ctx)
            if channel in self._settings.instant_reply_channels:
                outcomes.queue_reply(batch, self._keys, ctx, self._instant_reply(ctx))
        self._relay.queue(batch, events)
        while True:  # run again after an outage: each of its commands may run twice
            try:
                await self._run_batch.run(batch)
                break
            except Exception as exc:
                if not await self._waited_out(exc):
                    raise
        self._unmarked.extend(event.id for event in events)
        try:
            await self._statistics.after_batch(len(entries))
        except Exception as exc:  # plans only get slower; the batch is done
            log.warning("could not refresh planner statistics: %s", describe(exc))

    async def _waited_out(self, exc: Exception) -> bool:
        """For an outage met by a running worker: wait (logged once per outage) and say to
        try again; False when it is not an outage, or the worker is stopping or draining."""
        if self._stop is None or self._stop.is_set() or not is_outage(exc):
            return False
        if _concurrent_conflict(exc) and not self.outages.active:
            return False  # a dropped connection: the batch is run again at once first
        await self.outages.pause(exc, self._stop)
        return not self._stop.is_set()


def _concurrent_conflict(exc: Exception) -> bool:
    """A unique key taken by a concurrent transaction, a deadlock, a serialization failure or
    a connection the server dropped: the batch itself is fine and succeeds when run again."""
    if not isinstance(exc, DBAPIError):
        return False
    return exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in _CONFLICT_STATES


def _count_committed(contexts: list[Context], events: list[TicketEvent]) -> None:
    """Metrics of what a commit made: counted after it, so a batch run again counts once."""
    for ctx in contexts:
        if ctx.intent is Intent.NEW_REQUEST and ctx.ticket is not None:
            metrics.ticket_opened(channel=ctx.ticket.channel, request_type=ctx.ticket.request_type)
    metrics.survey_answers_recorded(events)


def _log_batch(contexts: list[Context]) -> None:
    """One line per batch at INFO (each message's line is at DEBUG): what the batch became."""
    if not log.isEnabledFor(logging.INFO):
        return
    intents = Counter(ctx.intent.value if ctx.intent else "stopped" for ctx in contexts)
    tickets = sum(1 for ctx in contexts if ctx.intent is Intent.NEW_REQUEST and ctx.ticket)
    log.info(
        "batch of %d processed: %s; %d tickets opened",
        len(contexts),
        ", ".join(f"{name}={n}" for name, n in sorted(intents.items())),
        tickets,
    )
