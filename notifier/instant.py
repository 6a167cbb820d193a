"""Instant replies to a citizen's own message on channels without a synchronous answer (SMS).

The pipeline queues them on the replies stream (`Keys.replies`) in the same Redis call that
acknowledges the message (`intake.ingest.outcomes.queue_reply`), so none is lost or queued
twice. An entry says whom to answer and WHAT to say: a template of the catalogue and its facts,
chosen by the core (`intake.ingest.replies.reply_for`), rendered here by the notifier's
renderer as the channel's own answer would be (WeChat's passive reply renders the same).

Each entry becomes a job keyed as the reply's send state is, `reply:<channel>:<external id>`:
a re-read entry enqueues nothing new, and a job re-run after a crash sends nothing again (the
send-state guard; a channel that answered in the same breath, like the Telegram bot, marked the
key sent). It goes out only on the channel and identity the message came from. A reply about a
ticket goes through the `Deliverer` like every other message (claim with the rate limits,
a delivery record and ticket events in the ledger, the call-back task when it cannot be
delivered); one about no ticket (a status query without tickets) is sent once under the same
send-state guard and only logged. They are essential: opt-outs and quiet hours do not stop the
answer to a message the citizen just sent, and a transient error is retried with the backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from saq.job import Job

from intake.domain.errors import PermanentSendError, TransientSendError
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.ingest.outcomes import Reply
from intake.ingest.replies import AS_WRITTEN
from intake.ingest.send_state import FAILED, SENDING, SENT_PREFIX
from intake.interfaces import OutboundMessage
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_nogroup, is_outage, wait_or_stop
from notifier.compose import base_context, channel_params
from notifier.delivery import Attempt, Deliverer, RetryLater
from notifier.facts import MailThread
from notifier.jobs import INSTANT_REPLY, JobSpec
from notifier.lookup import load_batch
from notifier.models import FINAL_DELIVERY
from notifier.records import Ledger
from notifier.routing import Route

log = logging.getLogger(__name__)

GROUP = "notifier-replies"
INSTANT = INSTANT_REPLY  # the job function, and the template recorded on its delivery


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
        self._stream = keys.replies
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
        """The job: render the reply and send it once on the channel the message came from."""
        job: Job = ctx["job"]
        route = Route(fields["channel"], _recipient(fields))
        reply = reply_of(fields)
        number = fields.get("ticket") or None
        if number:
            done = await self._about_ticket(job, route, reply, number, fields)
            if done is not None:
                return done
        return await self._alone(job, route, reply, number, fields)

    async def _about_ticket(
        self, job: Job, route: Route, reply: Reply, number: str, fields: dict[str, str]
    ) -> str | None:
        """Through the `Deliverer`, recorded on the ticket; None when the ticket is not found."""
        jc = self._jc
        spec = JobSpec(key=fields["job_key"], template=INSTANT, number=number)
        found = await load_batch(jc.db, [spec])
        status = found.statuses.get(spec.key)
        if status in FINAL_DELIVERY:
            return f"already {status}"
        ticket = found.tickets.get(number)
        if ticket is None:
            return None
        context = base_context(spec, ticket, jc.catalog, jc.cfg.zone)
        context.update(reply.facts)
        ledger = Ledger()
        attempt = Attempt(
            spec,
            ticket,
            context,
            ledger,
            attempts=job.attempts or 1,
            max_attempts=job.retries or 1,
            thread=_thread(fields),
            render=reply.template,
        )
        try:
            await self._deliverer.run_routes(attempt, [route])
        except RetryLater as later:
            job.retry_delay, job.retry_backoff = later.delay, False
            job.retries += 0 if later.counts else 1
            raise
        finally:
            await ledger.commit(jc.db)
        return "done"

    async def _alone(
        self, job: Job, route: Route, reply: Reply, number: str | None, fields: dict[str, str]
    ) -> str:
        """A reply about no ticket: sent once under the send-state guard, only logged. A
        transient error is raised for saq to retry after the backoff; the last is final."""
        jc, channel, key = self._jc, route.channel, fields["job_key"]
        sender = self._deliverer.senders.get(channel)
        state = await jc.state.get(key, channel)
        if sender is None:
            return f"no sender for {channel}"
        if state and (state.startswith(SENT_PREFIX) or state in (SENDING, FAILED)):
            return f"already {state}"
        rendered = jc.renderer.render(reply.template, reply.facts, lang=jc.cfg.language)
        thread = _thread(fields)
        message = OutboundMessage(
            recipient=route.recipient,
            text=rendered.text,
            job_key=key,
            ticket_number=number,
            subject=rendered.subject,
            template=INSTANT,
            params=channel_params(channel, rendered.params, thread),
        )
        await jc.state.set(key, channel, SENDING)
        try:
            result = await sender.send(message)
        except TransientSendError as exc:
            if (job.attempts or 1) >= job.retries:
                await jc.state.set(key, channel, FAILED)
                log.warning("instant reply %s to %s failed: %s", key, route.masked, exc)
                return "failed"
            await jc.state.clear(key, channel)
            delay = self._deliverer.backoff(job.attempts or 1, exc.retry_after)
            job.retry_delay, job.retry_backoff = delay, False
            log.warning("instant reply %s to %s: %s; retried later", key, route.masked, exc)
            raise RetryLater(delay) from exc
        except PermanentSendError as exc:
            await jc.state.set(key, channel, FAILED)
            log.warning("instant reply %s to %s failed: %s", key, route.masked, exc)
            return "failed"
        except Exception:
            await jc.state.clear(key, channel)  # not sent: safe to try again
            raise
        await jc.state.set(key, channel, SENT_PREFIX + (result.provider_id or ""))
        log.info("instant reply %s sent on %s to %s", key, channel, route.masked)
        return "sent"


def reply_of(fields: dict[str, str]) -> Reply:
    """The entry's template and facts; an entry queued before replies carried them has its
    text, said as written."""
    if "template" not in fields:
        return Reply(AS_WRITTEN, {"text": fields.get("text", "")})
    facts = orjson.loads(fields.get("facts") or "{}")
    return Reply(fields["template"], facts if isinstance(facts, dict) else {})


def _recipient(fields: dict[str, str]) -> SenderIdentity:
    return SenderIdentity(
        kind=IdentityKind(fields["kind"]), value=fields["value"], account=fields.get("account", "")
    )


def _thread(fields: dict[str, str]) -> MailThread | None:
    """The citizen's mail this answers (set by the core for e-mail), for In-Reply-To."""
    if not fields.get("in_reply_to"):
        return None
    return MailThread(fields["in_reply_to"], tuple(fields.get("references", "").split()))
