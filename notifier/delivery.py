"""One job: find the recipient's routes, send on the first that works, record every attempt.

Order per route: already sent or cut off (see `notifier.state`) → quiet hours → opt-out →
rate limits → send. A transient error is retried by saq with our backoff (raising
`RetryLater`); a permanent one moves on to the next route; when no route is left a citizen
gets a "call back by phone" task on the ticket.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any

from channels.base import Sender
from intake.enums import EventKind
from intake.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.models import Ticket
from notifier.compose import build_message
from notifier.context import JobContext
from notifier.jobs import CITIZEN, NON_ESSENTIAL, JobSpec
from notifier.models import DeliveryStatus
from notifier.records import CALLBACK_TASK, Outcome, record
from notifier.routing import Route
from notifier.state import FAILED, SENDING, SENT_PREFIX

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised out of a job so that saq retries it after `delay` seconds."""

    def __init__(self, delay: float, *, counts: bool = True) -> None:
        super().__init__(f"retry in {delay:.1f}s")
        self.delay = delay
        self.counts = counts  # False: a rate-limit wait does not use up an attempt


class Step(Enum):
    DONE = "done"
    NEXT = "next"


@dataclass
class Attempt:
    spec: JobSpec
    ticket: Ticket
    context: dict[str, Any]
    attempts: int = 1  # saq's attempt number of this run
    max_attempts: int = 1


class Deliverer:
    def __init__(self, jc: JobContext, senders: dict[str, Sender]) -> None:
        self.jc = jc
        self.senders = senders

    async def run_routes(self, run: Attempt, routes: list[Route]) -> None:
        for route in routes:
            if await self._try(run, route) is Step.DONE:
                return
        await self._nobody(run)

    async def _try(self, run: Attempt, route: Route) -> Step:
        sender = self.senders.get(route.channel)
        state = await self.jc.state.get(run.spec.key, route.channel)
        if state and state.startswith(SENT_PREFIX):
            await self._sent(run, route, state[len(SENT_PREFIX) :] or None, attempt=False)
            return Step.DONE
        if state == SENDING:
            await self._unconfirmed(run, route)
            return Step.DONE
        if state == FAILED or sender is None:
            return Step.NEXT
        refusal = self._refusal(run, route)
        if refusal:
            await self._failed(run, route, refusal, attempt=False)
            return Step.NEXT
        if self._quiet(run, route):
            await self._postpone(run, route)
            return Step.DONE
        await self._rate_limit(run, route)
        return await self._send(run, route, sender)

    def _refusal(self, run: Attempt, route: Route) -> str | None:
        if route.unsubscribed:
            return f"{route.channel}: the citizen unsubscribed"
        if route.opted_out and run.spec.template in NON_ESSENTIAL:
            return f"{route.channel}: the citizen opted out"
        return None

    def _quiet(self, run: Attempt, route: Route) -> bool:
        cfg, spec = self.jc.cfg, run.spec
        if route.channel != "sms" or spec.audience != CITIZEN:
            return False
        if spec.urgent or run.ticket.urgent or spec.template in cfg.quiet_exempt:
            return False
        return cfg.quiet_hours.contains(self.jc.clock().astimezone(cfg.zone))

    async def _postpone(self, run: Attempt, route: Route) -> None:
        local = self.jc.clock().astimezone(self.jc.cfg.zone)
        morning = self.jc.cfg.quiet_hours.next_end(local)
        key = f"{run.spec.key}~{morning:%Y%m%d}"
        await self.jc.enqueue(run.spec, at=morning, queue_key=key)
        outcome = Outcome(
            DeliveryStatus.POSTPONED, channel=route.channel, recipient=route.masked, attempt=False
        )
        await record(self.jc.db, run.spec, run.ticket, outcome, now=self.jc.clock())
        log.info(
            "job=%s ticket=%s quiet hours: sms to %s waits until %s",
            run.spec.key,
            run.spec.number,
            route.masked,
            morning.isoformat(),
        )

    async def _rate_limit(self, run: Attempt, route: Route) -> None:
        buckets = self.jc.buckets(route)
        wait = await self.jc.limiter.take(buckets, now=self.jc.clock().timestamp())
        if 0 < wait <= self.jc.cfg.inline_wait:
            await asyncio.sleep(wait)
            wait = await self.jc.limiter.take(buckets, now=self.jc.clock().timestamp())
        if wait > 0:
            log.info("job=%s rate limited on %s for %.1fs", run.spec.key, route.channel, wait)
            raise RetryLater(wait, counts=False)

    async def _send(self, run: Attempt, route: Route, sender: Sender) -> Step:
        spec = run.spec
        message = build_message(
            spec=spec,
            route=route,
            context=run.context,
            renderer=self.jc.renderer,
            public_url=self.jc.public_url,
            secret=self.jc.secret,
            lang=self.jc.cfg.language,
        )
        await self.jc.state.set(spec.key, route.channel, SENDING)
        try:
            result = await sender.send(message)
        except TransientSendError as exc:
            await self.jc.state.clear(spec.key, route.channel)
            return await self._transient(run, route, exc)
        except PermanentSendError as exc:
            await self.jc.state.set(spec.key, route.channel, FAILED)
            kind = "unreachable" if isinstance(exc, UnreachableError) else "permanent"
            await self._failed(run, route, f"{kind}: {exc}")
            return Step.NEXT
        except Exception:
            await self.jc.state.clear(spec.key, route.channel)  # not sent: safe to try again
            raise
        await self.jc.state.set(spec.key, route.channel, SENT_PREFIX + (result.provider_id or ""))
        await self._sent(run, route, result.provider_id)
        return Step.DONE

    async def _transient(self, run: Attempt, route: Route, exc: TransientSendError) -> Step:
        final = run.attempts >= run.max_attempts
        delay = None if final else self.backoff(run.attempts, exc.retry_after)
        await self._failed(run, route, f"transient: {exc}", data={"retry_in": delay})
        if delay is not None:
            raise RetryLater(delay)
        await self.jc.state.set(run.spec.key, route.channel, FAILED)
        return Step.NEXT

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential with "equal jitter": half fixed, half random; never before retry_after."""
        cfg = self.jc.cfg
        ceiling = min(
            cfg.retry_max.total_seconds(), cfg.retry_base.total_seconds() * 2 ** max(attempt - 1, 0)
        )
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(delay, retry_after or 0.0)

    async def _sent(
        self, run: Attempt, route: Route, provider_id: str | None, *, attempt: bool = True
    ) -> None:
        outcome = Outcome(
            DeliveryStatus.SENT,
            channel=route.channel,
            recipient=route.masked,
            provider_id=provider_id,
            event=EventKind.NOTIFIED,
            attempt=attempt,
        )
        await record(self.jc.db, run.spec, run.ticket, outcome, now=self.jc.clock())
        log.info(
            "job=%s ticket=%s sent on %s to %s",
            run.spec.key,
            run.spec.number,
            route.channel,
            route.masked,
        )
        await self.jc.after_sent(run.spec, run.ticket, run.context)

    async def _unconfirmed(self, run: Attempt, route: Route) -> None:
        error = "the worker stopped during the send; not repeated (at most once)"
        outcome = Outcome(
            DeliveryStatus.UNCONFIRMED,
            channel=route.channel,
            recipient=route.masked,
            error=error,
            event=EventKind.NOTIFIED,
            data={"unconfirmed": True},
            attempt=False,
        )
        await record(self.jc.db, run.spec, run.ticket, outcome, now=self.jc.clock())
        log.warning(
            "job=%s ticket=%s outcome on %s unknown after a crash",
            run.spec.key,
            run.spec.number,
            route.channel,
        )
        await self.jc.after_sent(run.spec, run.ticket, run.context)

    async def _failed(
        self,
        run: Attempt,
        route: Route,
        error: str,
        *,
        attempt: bool = True,
        data: dict[str, Any] | None = None,
    ) -> None:
        outcome = Outcome(
            DeliveryStatus.SENDING,
            channel=route.channel,
            recipient=route.masked,
            error=error[:1000],
            event=EventKind.DELIVERY_FAILED,
            data=data,
            attempt=attempt,
        )
        await record(self.jc.db, run.spec, run.ticket, outcome, now=self.jc.clock())
        log.info(
            "job=%s ticket=%s %s failed: %s",
            run.spec.key,
            run.spec.number,
            route.channel,
            error[:200],
        )

    async def _nobody(self, run: Attempt) -> None:
        """No route left: for a citizen, an agent calls them back."""
        spec = run.spec
        if spec.audience == CITIZEN:
            text = self.jc.renderer.render("callback_task", run.context).text
            outcome = Outcome(
                DeliveryStatus.FAILED,
                error="no channel reached the citizen",
                event=EventKind.NOTE,
                text=text,
                attempt=False,
                data={"task": CALLBACK_TASK},
            )
        else:
            outcome = Outcome(
                DeliveryStatus.FAILED,
                error="no channel reached the staff member",
                event=EventKind.DELIVERY_FAILED,
                attempt=False,
            )
        await record(self.jc.db, spec, run.ticket, outcome, now=self.jc.clock())
        log.warning("job=%s ticket=%s reached nobody", spec.key, spec.number)
