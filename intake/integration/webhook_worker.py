"""Delivers domain events to department webhooks: durable, in order per ticket, retried.

Two steps, both restartable at any point:

1. `poll` reads the domain-event stream in its own consumer group ("webhooks"). Each event of
   a department with a webhook is appended, with its payload, to the Redis list of that
   (department, ticket) and the list is scheduled in the sorted set of due queues; one Lua
   script does both, once per event and department (an event read twice adds nothing).
   Only then is the stream entry acknowledged; entries a dead worker left are reclaimed.
2. `deliver_due` takes due queues under a lease (the queue's score moves past the lease's
   end, so a killed worker's queue comes back when the lease runs out), POSTs the head
   event and pops it on a 2xx answer. A failure leaves it at the head and reschedules the
   queue with exponential backoff and jitter: the ticket's later events wait behind it, in
   order. An event that has failed for `webhook_retry_for_s` is parked as a dead letter
   (table `webhook_dead_letters`, `intake webhook dead` / `replay`) and the queue goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import select

from intake.domain.clock import Clock, utcnow
from intake.domain.errors import InvalidInput, NotFound
from intake.domain.models import Ticket
from intake.integration.models import DepartmentWebhook, WebhookDeadLetter
from intake.integration.webhooks import (
    NOT_SENT,
    active_hooks,
    check_url,
    departments_of,
    payload,
    signed_headers,
)
from intake.integration_settings import IntegrationSettings
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_nogroup, is_outage
from intake.storage.database import Database

log = logging.getLogger(__name__)

GROUP = "webhooks"
SEEN_TTL_S = 7 * 86400
LEASE_S = 60.0
HOOKS_REFRESH_S = 5.0
CLAIM_IDLE_MS = 30_000

_ENQUEUE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[3], KEYS[2])
  return 1
end
return 0
"""
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
  return 1
end
return 0
"""
_DONE = """
redis.call('LPOP', KEYS[1])
redis.call('DEL', KEYS[3])
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1])
else
  redis.call('ZREM', KEYS[2], KEYS[1])
end
return 1
"""


class WebhookKeys:
    """The worker's keys, all named by `Keys`; a queue's failure count sits beside the queue."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys
        self.prefix = keys.webhook_prefix
        self.due = keys.webhook_due
        self.queue_prefix = keys.webhook_queue_prefix

    def seen(self, event_id: str, department: str) -> str:
        return self._keys.webhook_seen(event_id, department)

    def queue(self, department: str, ticket: str) -> str:
        return self._keys.webhook_queue(department, ticket)

    def failures(self, queue: str) -> str:
        return f"{queue}:fail"


class WebhookWorker:
    def __init__(
        self,
        *,
        db: Database,
        redis: aioredis.Redis,
        keys: Keys,
        settings: IntegrationSettings,
        http: httpx.AsyncClient,
        clock: Clock = utcnow,
        consumer: str | None = None,
        hooks_refresh_s: float = HOOKS_REFRESH_S,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        lease_s: float = LEASE_S,
    ) -> None:
        self._db, self._redis, self._keys, self._cfg = db, redis, keys, settings
        self._http, self._clock = http, clock
        self.keys = WebhookKeys(keys)
        self.name = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._done = redis.register_script(_DONE)
        self._hooks: dict[str, DepartmentWebhook] = {}
        self._hooks_at = -1e9
        self._hooks_refresh_s = hooks_refresh_s
        self._claim_idle_ms = claim_idle_ms
        self._lease_s = lease_s

    async def ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self._redis.xgroup_create(self._keys.events, GROUP, id="0", mkstream=True)

    async def hooks(self) -> dict[str, DepartmentWebhook]:
        if time.monotonic() - self._hooks_at >= self._hooks_refresh_s:
            async with self._db.read() as session:
                self._hooks = await active_hooks(session)
            self._hooks_at = time.monotonic()
        return self._hooks

    # step 1: the stream into per-ticket queues

    async def poll(self, *, block_ms: int | None = None, count: int = 200) -> int:
        claimed = await self._redis.xautoclaim(
            self._keys.events, GROUP, self.name, min_idle_time=self._claim_idle_ms, count=count
        )
        entries = [(i, f) for i, f in claimed[1] if f]
        if not entries:
            read = await self._redis.xreadgroup(
                GROUP, self.name, {self._keys.events: ">"}, count=count, block=block_ms
            )
            entries = [e for _, batch in read or [] for e in batch]
        if entries:
            await self._queue(entries)
            await self._redis.xack(self._keys.events, GROUP, *(i for i, _ in entries))
        return len(entries)

    async def _queue(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        hooks = await self.hooks()
        wanted: list[tuple[dict[str, Any], dict[str, Any], set[str]]] = []
        for _, fields in entries:
            if fields.get("kind") in NOT_SENT:
                continue
            data = _data(fields)
            departments = departments_of(fields, data) & set(hooks)
            if departments:
                wanted.append((fields, data, departments))
        if not wanted:
            return
        numbers = {str(fields.get("ticket")) for fields, _, _ in wanted}
        async with self._db.read() as session:
            tickets = {
                t.number: t
                for t in await session.scalars(select(Ticket).where(Ticket.number.in_(numbers)))
            }
        now = time.time()
        for fields, data, departments in wanted:
            number = str(fields.get("ticket"))
            body = orjson.dumps(payload(fields, data, tickets.get(number))).decode()
            for department in sorted(departments):
                event_id = str(fields.get("event_id"))
                await self._enqueue(
                    keys=[
                        self.keys.seen(event_id, department),
                        self.keys.queue(department, number),
                        self.keys.due,
                    ],
                    args=[orjson.dumps({"event_id": event_id, "body": body}), SEEN_TTL_S, now],
                )

    # step 2: the queues to the departments

    async def deliver_due(self, *, limit: int = 50) -> int:
        """Deliver the head of each due queue; returns how many were delivered or parked."""
        now = time.time()
        due = await self._redis.zrangebyscore(self.keys.due, "-inf", now, start=0, num=limit)
        lease_end = now + self._lease_s
        taken = [
            q for q in due if await self._claim(keys=[self.keys.due], args=[q, now, lease_end])
        ]
        results = await asyncio.gather(*(self._deliver_head(q) for q in taken))
        return sum(results)

    async def _deliver_head(self, queue: str) -> int:
        head = await self._redis.lindex(queue, 0)
        if head is None:
            await self._finish(queue)
            return 0
        item = orjson.loads(head)
        department = queue.removeprefix(self.keys.queue_prefix).rsplit(":", 1)[0]
        hook = (await self.hooks()).get(department)
        if hook is None:  # the webhook was removed: what was queued for it is dropped
            await self._finish(queue)
            return 0
        error = await self._post(hook, item["event_id"], item["body"].encode())
        if error is None:
            await self._finish(queue)
            log.info("webhook department=%s event=%s delivered", department, item["event_id"])
            return 1
        return await self._failed(queue, department, item, error)

    async def _post(self, hook: DepartmentWebhook, event_id: str, body: bytes) -> str | None:
        try:
            await check_url(hook.url, allow_private=self._cfg.webhook_allow_private)
            headers = signed_headers(hook.secret, int(time.time()), body, event_id)
            response = await self._http.post(
                hook.url, content=body, headers=headers, timeout=self._cfg.webhook_timeout_s
            )
        except InvalidInput as exc:
            return str(exc)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _failed(self, queue: str, department: str, item: dict[str, Any], error: str) -> int:
        failures = self.keys.failures(queue)
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(failures, "first", now)
            pipe.hincrby(failures, "attempts", 1)
            pipe.hget(failures, "first")
            _, attempts, first = await pipe.execute()
        if now - float(first) >= self._cfg.webhook_retry_for_s:
            await self._park(department, item, error, int(attempts))
            await self._finish(queue)
            return 1
        wait = min(
            self._cfg.webhook_backoff_first_s * 2 ** (int(attempts) - 1),
            self._cfg.webhook_backoff_max_s,
        )
        wait *= random.uniform(0.9, 1.1)
        await self._redis.zadd(self.keys.due, {queue: now + wait}, xx=True)
        log.warning(
            "webhook department=%s event=%s attempt %s failed (%s); retry in %.0f s",
            department,
            item["event_id"],
            attempts,
            error,
            wait,
        )
        return 0

    async def _park(self, department: str, item: dict[str, Any], error: str, attempts: int) -> None:
        body = orjson.loads(item["body"])
        async with self._db.write() as session, session.begin():
            session.add(
                WebhookDeadLetter(
                    department=department,
                    ticket=str(body.get("ticket", {}).get("number") or ""),
                    event_id=item["event_id"],
                    payload=body,
                    error=error,
                    attempts=attempts,
                    created_at=self._clock(),
                )
            )
        log.error(
            "webhook department=%s event=%s dead-lettered after %d attempts: %s",
            department,
            item["event_id"],
            attempts,
            error,
        )

    async def _finish(self, queue: str) -> None:
        await self._done(keys=[queue, self.keys.due, self.keys.failures(queue)], args=[time.time()])

    async def replay(self, dead_id: int) -> str:
        """Put a dead letter back at the end of its ticket's queue; returns the event id."""
        async with self._db.write() as session, session.begin():
            dead = await session.get(WebhookDeadLetter, dead_id)
            if dead is None:
                raise NotFound(f"no dead letter #{dead_id}")
            queue = self.keys.queue(dead.department, dead.ticket)
            item = {"event_id": dead.event_id, "body": orjson.dumps(dead.payload).decode()}
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(queue, orjson.dumps(item))
                pipe.zadd(self.keys.due, {queue: time.time()}, nx=True)
                await pipe.execute()
            dead.replayed_at = self._clock()
            return dead.event_id

    async def run(self, stop: asyncio.Event, *, idle_s: float = 0.5) -> None:
        """Both steps until `stop`; outages of Redis or the database are waited out."""
        outages = OutageGuard("webhooks", logger=log)
        await outages.call(self.ensure_group, stop)
        while not stop.is_set():
            try:
                moved = await self.poll(block_ms=int(idle_s * 1000))
                sent = await self.deliver_due()
                outages.ok()
            except Exception as exc:  # keep delivering; the next round retries
                if is_nogroup(exc):
                    await outages.call(self.ensure_group, stop)
                    continue
                if is_outage(exc):
                    await outages.pause(exc, stop)
                    continue
                log.warning("webhooks: %s", type(exc).__name__, exc_info=True)
                moved = sent = 0
            if not moved and not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_s / 5)


def _data(fields: dict[str, Any]) -> dict[str, Any]:
    try:
        data = orjson.loads(fields.get("data") or "{}")
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


async def run_webhooks(
    *,
    db: Database,
    redis: aioredis.Redis,
    keys: Keys,
    settings: IntegrationSettings,
    stop: asyncio.Event,
    consumer: str | None = None,
    claim_idle_ms: int = CLAIM_IDLE_MS,
    lease_s: float = LEASE_S,
) -> None:
    """The webhook worker of one process (what `intake worker --only webhooks` runs)."""
    async with httpx.AsyncClient(follow_redirects=False) as http:
        worker = WebhookWorker(
            db=db,
            redis=redis,
            keys=keys,
            settings=settings,
            http=http,
            consumer=consumer,
            claim_idle_ms=claim_idle_ms,
            lease_s=lease_s,
        )
        await worker.run(stop)
