"""Between the bot and the core: submit a message, wait for its outcome, answer in the chat.

The bot answers citizens itself from the pipeline's outcome (a ticket number within seconds
reads better than a second message later). So that nothing is said twice it tells the
notifier so through the send-state guard (`intake.send_state`): the instant reply of this message
(job `reply:telegram:<update_id>`) is claimed before submitting, and a new ticket's `ack` is
marked as carried by the bot's answer. If the outcome is late the claim is released and the
notifier answers when the pipeline is done; if our send fails both marks are withdrawn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from intake.messages import InboundMessage
from intake.outcome_waiter import OutcomeWaiter
from intake.outcomes import Outcome
from intake.replies import Replies
from intake.runtime import Runtime
from intake.send_state import SENT_PREFIX, SendState, mark_carried, mark_passive_ack

log = logging.getLogger(__name__)

CHANNEL = "telegram"
BOT_REPLY = SENT_PREFIX + "telegram-bot"
Send = Callable[[str], Awaitable[Any]]


class IntakeBridge:
    def __init__(self, runtime: Runtime, *, wait_s: float) -> None:
        self._runtime = runtime
        self._wait = wait_s
        self.replies = Replies.load(runtime.settings.catalog.replies_file)
        self._state = SendState(runtime.redis.client, prefix=runtime.redis.keys.prefix)
        self._waiter = OutcomeWaiter(runtime.redis.client, runtime.redis.keys, poll_s=0.02)

    async def file_request(self, message: InboundMessage, send: Send) -> None:
        """A guided request is a new ticket by construction: its number is known at once."""
        receipt = await self._runtime.gateway.submit(message, open_ticket=True)
        number = receipt.number
        assert number is not None, "open_ticket=True always allocates a number"
        await mark_passive_ack(self._state, number=number, channel=CHANNEL)
        outcome = await self._outcome(message)
        carried = {f"ack:{number}"}
        if outcome:
            carried.update(await mark_carried(self._state, outcomes=[outcome], channel=CHANNEL))
        text = self.replies.for_outcome(outcome) if outcome else None
        text = text or self.replies.text(
            "new_request", ticket=number, query_code=receipt.query_code
        )
        text = self.replies.with_emergency(text, receipt.emergency) or text
        await self._send_carrying(send, text, sorted(carried))

    async def submit(self, message: InboundMessage, send: Send) -> Outcome | None:
        """Anything else: the core decides what it is; the bot answers what the core says."""
        job = f"reply:{CHANNEL}:{message.external_id}"
        await self._state.set(job, CHANNEL, BOT_REPLY)
        receipt = await self._runtime.gateway.submit(message)
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
