"""Instant replies to a citizen's own message on channels without a synchronous answer (SMS).

The pipeline queues them on `stream:replies` in the same Redis transaction that acknowledges
the message, so none is lost or queued twice; this consumer sends each once (the send-state
guard makes a re-delivery after a crash a no-op) on the channel the message came from. They
are essential messages: opt-outs do not stop the answer to a message the citizen just sent.
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

from intake.errors import PermanentSendError, TransientSendError
from intake.interfaces import OutboundMessage, Sender
from intake.keys import Keys
from intake.messages import IdentityKind, SenderIdentity
from intake.phones import mask_phone
from intake.resilience import OutageGuard, is_nogroup, is_outage, wait_or_stop
from intake.send_state import SENDING, SENT_PREFIX, SendState

log = logging.getLogger(__name__)

GROUP = "notifier-replies"


def replies_stream(keys: Keys) -> str:
    return f"{keys.prefix}stream:replies"


class InstantReplies:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        senders: dict[str, Sender],
        claim_idle_ms: int = 30_000,
    ) -> None:
        self._redis = redis
        self._stream = replies_stream(keys)
        self._senders = senders
        self._state = SendState(redis, prefix=keys.prefix)
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
            except Exception as exc:  # the entry stays pending and is retried
                if is_nogroup(exc):  # Redis restarted without its data
                    await outages.call(self.ensure_group, stop)
                elif is_outage(exc):
                    await outages.pause(exc, stop)
                else:
                    log.warning("instant replies: %r", exc)
                    await wait_or_stop(stop, 1.0)

    async def poll(self, *, block_ms: int = 1) -> int:
        """Send one batch (stale entries of dead consumers first); returns how many."""
        claimed = await self._redis.xautoclaim(
            self._stream, GROUP, self.consumer, min_idle_time=self._idle, count=50
        )
        entries = [(i, f) for i, f in claimed[1] if f]
        if not entries:
            read = await self._redis.xreadgroup(
                GROUP, self.consumer, {self._stream: ">"}, count=50, block=block_ms
            )
            entries = list(read[0][1]) if read else []
        for entry_id, fields in entries:
            if await self._deliver(fields):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xack(self._stream, GROUP, entry_id).xdel(self._stream, entry_id)
                    await pipe.execute()
        return len(entries)

    async def _deliver(self, fields: dict[str, str]) -> bool:
        """True when done (sent, or not sendable); False leaves it for a retry."""
        channel, key = fields["channel"], fields["job_key"]
        sender = self._senders.get(channel)
        state = await self._state.get(key, channel)
        if sender is None or (state and (state.startswith(SENT_PREFIX) or state == SENDING)):
            return True
        recipient = SenderIdentity(
            kind=IdentityKind(fields["kind"]),
            value=fields["value"],
            account=fields.get("account", ""),
        )
        await self._state.set(key, channel, SENDING)
        try:
            result = await sender.send(
                OutboundMessage(
                    recipient=recipient,
                    text=fields["text"],
                    job_key=key,
                    ticket_number=fields.get("ticket") or None,
                    template="instant_reply",
                    params=_thread_params(fields),
                )
            )
        except TransientSendError as exc:
            await self._state.clear(key, channel)
            log.warning("instant reply %s to %s: %s; retried later", key, _masked(recipient), exc)
            return False
        except PermanentSendError as exc:
            await self._state.set(key, channel, "failed")
            log.warning("instant reply %s to %s failed: %s", key, _masked(recipient), exc)
            return True
        await self._state.set(key, channel, SENT_PREFIX + (result.provider_id or ""))
        return True


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
