"""Instant replies to a citizen's own message on channels without a synchronous answer (SMS).

The pipeline queues them on `stream:replies` in the same Redis transaction that acknowledges
the message (`intake.ingest.outcomes.queue_reply`), so none is lost or queued twice. Each entry
becomes a notifier job keyed as the reply's send state is, `reply:<channel>:<external id>`, on
the queue every other message goes out through: a re-read entry enqueues nothing new, and a
job re-run after a crash sends nothing again (the send-state guard; a channel that answered
in the same breath, like the Telegram bot, marked the key sent). Its text is rendered by the
core from the catalogue (`intake.ingest.replies`), as the channel's own answer would be. They are
essential messages: opt-outs and quiet hours do not stop the answer to a message the citizen
just sent, and a transient error is retried with the notifier's backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from saq.job import Job

from intake.domain.errors import PermanentSendError, TransientSendError
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.domain.phones import mask_phone
from intake.ingest.send_state import FAILED, SENDING, SENT_PREFIX
from intake.interfaces import OutboundMessage
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_nogroup, is_outage, wait_or_stop
from notifier.delivery import Deliverer, RetryLater

log = logging.getLogger(__name__)

GROUP = "notifier-replies"
INSTANT = "instant_reply"  # the job function


def replies_stream(keys: Keys) -> str:
    return f"{keys.prefix}stream:replies"


class InstantReplies:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        deliverer: Deliverer,
        claim_idle_ms: int = 30_000,
    ) -> None:
        self._redis = redis
        self._stream = replies_stream(keys)
        self._deliverer = deliverer
        self._jc = deliverer.jc
        self._idle = claim_idle_ms
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-replies"

    async def ensure_group(self) -> None:
        with contextlib.suppress(ResponseError):
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)

    async def run(self, stop: asyncio.Event) -> None:
        outages = OutageGuard("instant replies", logger=log)
        await outages.call(self.ensure_group, stop)
        while not stop.is_set():
            try:
                await self.poll(block_ms=1000)
                outages.ok()
            except Exception as exc:  # the entries stay pending and are read again
                if is_nogroup(exc):  # Redis restarted without its data
                    await outages.call(self.ensure_group, stop)
                elif is_outage(exc):
                    await outages.pause(exc, stop)
                else:
                    log.warning("instant replies: %r", exc)
                    await wait_or_stop(stop, 1.0)

    async def poll(self, *, block_ms: int = 1) -> int:
        """Enqueue one batch as jobs (stale entries of dead consumers first); returns how many."""
        claimed = await self._redis.xautoclaim(
            self._stream, GROUP, self.consumer, min_idle_time=self._idle, count=50
        )
        entries = [(i, f) for i, f in claimed[1] if f]
        if not entries:
            read = await self._redis.xreadgroup(
                GROUP, self.consumer, {self._stream: ">"}, count=50, block=block_ms
            )
            entries = list(read[0][1]) if read else []
        if not entries:
            return 0
        await self._jc.queue.enqueue_many([self._job(fields) for _, fields in entries])
        ids = [entry_id for entry_id, _ in entries]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, *ids).xdel(self._stream, *ids)
            await pipe.execute()
        return len(entries)

    def _job(self, fields: dict[str, str]) -> Job:
        cfg = self._jc.cfg
        return Job(
            function=INSTANT,
            key=fields["job_key"],
            retries=cfg.max_attempts,
            timeout=cfg.job_timeout,
            ttl=cfg.job_ttl,
            kwargs={"fields": dict(fields)},
        )

    async def send(self, ctx: dict[str, Any], *, fields: dict[str, str]) -> str:
        """The job: send once on the channel the message came from. A transient error is
        raised for saq to retry after the backoff; the last attempt's is marked failed."""
        channel, key = fields["channel"], fields["job_key"]
        sender = self._deliverer.senders.get(channel)
        state = await self._jc.state.get(key, channel)
        if sender is None:
            return f"no sender for {channel}"
        if state and (state.startswith(SENT_PREFIX) or state in (SENDING, FAILED)):
            return f"already {state}"
        recipient = SenderIdentity(
            kind=IdentityKind(fields["kind"]),
            value=fields["value"],
            account=fields.get("account", ""),
        )
        await self._jc.state.set(key, channel, SENDING)
        try:
            result = await sender.send(
                OutboundMessage(
                    recipient=recipient,
                    text=fields["text"],
                    job_key=key,
                    ticket_number=fields.get("ticket") or None,
                    template=INSTANT,
                    params=_thread_params(fields),
                )
            )
        except TransientSendError as exc:
            job: Job = ctx["job"]
            if (job.attempts or 1) >= job.retries:
                await self._jc.state.set(key, channel, FAILED)
                log.warning("instant reply %s to %s failed: %s", key, _masked(recipient), exc)
                return "failed"
            await self._jc.state.clear(key, channel)
            delay = self._deliverer.backoff(job.attempts or 1, exc.retry_after)
            job.retry_delay, job.retry_backoff = delay, False
            log.warning("instant reply %s to %s: %s; retried later", key, _masked(recipient), exc)
            raise RetryLater(delay) from exc
        except PermanentSendError as exc:
            await self._jc.state.set(key, channel, FAILED)
            log.warning("instant reply %s to %s failed: %s", key, _masked(recipient), exc)
            return "failed"
        except Exception:
            await self._jc.state.clear(key, channel)  # not sent: safe to try again
            raise
        await self._jc.state.set(key, channel, SENT_PREFIX + (result.provider_id or ""))
        return "sent"


def _thread_params(fields: dict[str, str]) -> dict[str, Any]:
    """The citizen's mail this answers (set by the core for e-mail), for In-Reply-To."""
    if not fields.get("in_reply_to"):
        return {}
    return {
        "in_reply_to": fields["in_reply_to"],
        "references": fields.get("references", "").split(),
    }


def _masked(identity: SenderIdentity) -> str:
    return mask_phone(identity.value) if identity.kind is IdentityKind.PHONE else identity.kind
