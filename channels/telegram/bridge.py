"""Between the bot and the core: submit a message, wait for its outcome, answer in the chat.

The bot answers citizens itself from the pipeline's outcome (a ticket number within seconds
reads better than a second message later). So that nothing is said twice it tells the
notifier so through the send-state guard (`intake.ingest.send_state`): the instant reply of this
message
(job `reply:telegram:<update_id>`) is claimed before submitting, and a new ticket's `ack` is
marked as carried by the bot's answer. If the outcome is late the claim is released and the
notifier answers when the pipeline is done; if our send fails both marks are withdrawn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.messages import InboundMessage
from intake.guided import Step
from intake.ingest.outcome_waiter import OutcomeWaiter
from intake.ingest.outcomes import Outcome
from intake.ingest.replies import Replies
from intake.ingest.send_state import SENT_PREFIX, SendState, mark_carried, mark_passive_ack
from intake.interfaces import IntakeGateway
from intake.redis.keys import Keys

log = logging.getLogger(__name__)

CHANNEL = "telegram"
BOT_REPLY = SENT_PREFIX + "telegram-bot"
Send = Callable[[str], Awaitable[Any]]


class IntakeBridge:
    def __init__(
        self,
        *,
        gateway: IntakeGateway,
        redis: aioredis.Redis,
        keys: Keys,
        replies_file: Path | None,
        wait_s: float,
    ) -> None:
        self._gateway = gateway
        self._wait = wait_s
        self.replies = Replies.load(replies_file)
        self._state = SendState(redis, keys=keys)
        self._waiter = OutcomeWaiter(redis, keys, poll_s=0.02)

    async def announce_filed(self, step: Step, send: Send) -> None:
        """A guided request the core filed is a new ticket by construction: its number is
        known at once, and the bot says it (with the pipeline's answer when it is in time)."""
        number, filed = step.number, step.filed
        assert number is not None and filed is not None, "a filed step carries its ticket"
        await mark_passive_ack(self._state, number=number, channel=CHANNEL)
        outcome = await self._waiter.wait(channel=CHANNEL, external_id=filed, within_s=self._wait)
        carried = {f"ack:{number}"}
        if outcome:
            carried.update(await mark_carried(self._state, outcomes=[outcome], channel=CHANNEL))
        text = self.replies.for_outcome(outcome) if outcome else None
        text = text or self.replies.acknowledgement(number, step.query_code)
        advice = EmergencyAdvice.from_dict(step.emergency)
        text = self.replies.with_emergency(text, advice) or text
        await self._send_carrying(send, text, sorted(carried))

    async def submit(self, message: InboundMessage, send: Send) -> Outcome | None:
        """Anything else: the core decides what it is; the bot answers what the core says."""
        job = f"reply:{CHANNEL}:{message.external_id}"
        await self._state.set(job, CHANNEL, BOT_REPLY)
        receipt = await self._gateway.submit(message)
        outcome = await self._outcome(message)
        if outcome is None:
            await self._state.clear(job, CHANNEL)
            log.warning(
                "telegram update=%s: outcome late; the notifier answers", message.external_id
            )
            later = self.replies.text("received_later")
            await send(self.replies.with_emergency(later, receipt.emergency) or later)
            return None
        carried = await mark_carried(self._state, outcomes=[outcome], channel=CHANNEL)
        text = self.replies.with_emergency(self.replies.for_outcome(outcome), receipt.emergency)
        if text:
            await self._send_carrying(send, text, [job, *carried])
        return outcome

    async def _send_carrying(self, send: Send, text: str, carried: list[str]) -> None:
        """Send the bot's reply; if it fails, the notifier sends what it would have carried."""
        try:
            await send(text)
        except Exception:
            for key in carried:
                await self._state.clear(key, CHANNEL)
            raise

    async def _outcome(self, message: InboundMessage) -> Outcome | None:
        return await self._waiter.wait(
            channel=message.channel,
            external_id=message.external_id,
            within_s=self._wait,
        )
