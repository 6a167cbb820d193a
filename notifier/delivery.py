"""One job: find the recipient's routes, send on the first that works, record every attempt.

Order per route: already sent or cut off (see `intake.ingest.send_state`) → opt-out → quiet hours →
rate limits → send; the state check, the tokens and the "sending" mark are one atomic claim
(`notifier.claim`). A transient error is retried by saq with our backoff (raising
`RetryLater`); a permanent one moves on to the next route; when no route is left a citizen
gets a "call back by phone" task on the ticket.

The jobs of a batch run through here side by side: their claims and their outcome marks go to
Redis in one call per step (`notifier.claim`, `SendState.set_many`), and their outcomes to the
batch's ledger (`notifier.records`), committed once the batch is done.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any

from intake.domain.enums import EventKind
from intake.domain.errors import (
    PermanentSendError,
    SendSkipped,
    TransientSendError,
    UnreachableError,
)
from intake.ingest.send_state import FAILED, SENDING, SENT_PREFIX
from intake.interfaces import OutboundMessage, Sender
from intake.redis.coalesce import Coalescer
from notifier.claim import Claim, ClaimRequest
from notifier.compose import build_message
from notifier.context import JobContext
from notifier.facts import MailThread, TicketFacts
from notifier.jobs import CITIZEN, INSTANT_REPLY, NON_ESSENTIAL, JobSpec
from notifier.models import DeliveryStatus
from notifier.records import CALLBACK_TASK, Ledger, Outcome
from notifier.routing import Route

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
    ticket: TicketFacts
    context: dict[str, Any]
    ledger: Ledger  # where the batch gathers its outcomes
    attempts: int = 1  # saq's attempt number of this run
    max_attempts: int = 1
    thread: MailThread | None = None  # the citizen's mail an e-mail to them answers
    render: str | None = None  # rendered instead of the job's own (`notifier.instant`)


class Deliverer:
    def __init__(self, jc: JobContext, senders: dict[str, Sender]) -> None:
        self.jc = jc
        self.senders = senders
        self._claim = Coalescer(self._claim_many)
        self._mark = Coalescer(jc.state.set_many)

    async def _claim_many(self, requests: list[ClaimRequest]) -> list[Claim]:
        return await self.jc.claims.claim_many(requests, now=self.jc.clock().timestamp())

    def _record(self, run: Attempt, outcome: Outcome) -> None:
        run.ledger.add(run.spec, run.ticket.id, outcome, now=self.jc.clock())

    async def run_routes(self, run: Attempt, routes: list[Route]) -> None:
        for route in routes:
            if await self._try(run, route) is Step.DONE:
                return
        await self._nobody(run)

    async def _try(self, run: Attempt, route: Route, *, patient: bool = True) -> Step:
        """The state, the refusals and the quiet hours decide first; then the claim (tokens
        taken and "sending" marked at once) lets the send go."""
        sender = self.senders.get(route.channel)
        refusal = self._refusal(run, route)
        quiet = self._quiet(run, route)
        ready = sender is not None and not refusal and not quiet
        message = self._message(run, route) if ready else None  # a template error: retried
        buckets = self.jc.buckets(route) if ready else None
        claim = await self._claim((run.spec.key, route.channel, buckets))
        if claim.state is not None or sender is None:
            return await self._settled(run, route, claim.state)
        if refusal:
            await self._failed(run, route, refusal, attempt=False)
            return Step.NEXT
        if quiet:
            await self._postpone(run, route)
            return Step.DONE
        if claim.wait:
            return await self._rate_limited(run, route, claim.wait, patient=patient)
        assert sender is not None and message is not None
        return await self._send(run, route, sender, message)

    async def _settled(self, run: Attempt, route: Route, state: str | None) -> Step:
        """A send state from an earlier run: never send again, record what it says."""
        if state and state.startswith(SENT_PREFIX):
            await self._sent(run, route, state[len(SENT_PREFIX) :] or None, attempt=False)
            return Step.DONE
        if state == SENDING:
            await self._unconfirmed(run, route)
            return Step.DONE
        return Step.NEXT  # failed on this channel, or no sender for it

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
        if spec.template == INSTANT_REPLY:  # the answer to what the citizen just sent
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
        self._record(run, outcome)
        log.info(
            "job=%s ticket=%s quiet hours: sms to %s waits until %s",
            run.spec.key,
            run.spec.number,
            route.masked,
            morning.isoformat(),
        )

    async def _rate_limited(
        self, run: Attempt, route: Route, wait: float, *, patient: bool
    ) -> Step:
        """A short wait is slept (once); a longer one puts the job back for later."""
        if patient and wait <= self.jc.cfg.inline_wait:
            await asyncio.sleep(wait)
            return await self._try(run, route, patient=False)
        log.info("job=%s rate limited on %s for %.1fs", run.spec.key, route.channel, wait)
        raise RetryLater(wait, counts=False)

    def _message(self, run: Attempt, route: Route) -> OutboundMessage:
        return build_message(
            spec=run.spec,
            route=route,
            context=run.context,
            renderer=self.jc.renderer,
            public_url=self.jc.public_url,
            secret=self.jc.secret,
            lang=self.jc.cfg.language,
            thread=run.thread,
            template=run.render,
        )

    async def _send(
        self, run: Attempt, route: Route, sender: Sender, message: OutboundMessage
    ) -> Step:
        """Claimed: the state says "sending" until the provider has answered."""
        spec = run.spec
        try:
            result = await sender.send(message)
        except TransientSendError as exc:
            await self.jc.state.clear(spec.key, route.channel)
            return await self._transient(run, route, exc)
        except SendSkipped as exc:  # held back by a loop guard: no retry, no other channel
            await self.jc.state.clear(spec.key, route.channel)
            outcome = Outcome(
                DeliveryStatus.SKIPPED,
                channel=route.channel,
                recipient=route.masked,
                error=f"skipped: {exc}",
                event=EventKind.DELIVERY_FAILED,
                data={"skipped": exc.reason},
            )
            self._record(run, outcome)
            return Step.DONE
        except PermanentSendError as exc:
            await self._mark((spec.key, route.channel, FAILED))
            kind = "unreachable" if isinstance(exc, UnreachableError) else "permanent"
            await self._failed(run, route, f"{kind}: {exc}")
            return Step.NEXT
        except Exception:
            await self.jc.state.clear(spec.key, route.channel)  # not sent: safe to try again
            raise
        await self._mark((spec.key, route.channel, SENT_PREFIX + (result.provider_id or "")))
        await self._sent(run, route, result.provider_id)
        return Step.DONE

    async def _transient(self, run: Attempt, route: Route, exc: TransientSendError) -> Step:
        final = run.attempts >= run.max_attempts
        delay = None if final else self.backoff(run.attempts, exc.retry_after)
        await self._failed(run, route, f"transient: {exc}", data={"retry_in": delay})
        if delay is not None:
            raise RetryLater(delay)
        await self._mark((run.spec.key, route.channel, FAILED))
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
        self._record(run, outcome)
        log.info(
            "job=%s ticket=%s sent on %s to %s",
            run.spec.key,
            run.spec.number,
            route.channel,
            route.masked,
        )
        await self.jc.after_sent(run.spec, run.context, run.ledger)

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
        self._record(run, outcome)
        log.warning(
            "job=%s ticket=%s outcome on %s unknown after a crash",
            run.spec.key,
            run.spec.number,
            route.channel,
        )
        await self.jc.after_sent(run.spec, run.context, run.ledger)

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
        self._record(run, outcome)
        log.info(
            "job=%s ticket=%s %s failed: %s",
            run.spec.key,
            run.spec.number,
            route.channel,
            error[:200],
        )

    async def _nobody(self, run: Attempt) -> None:
        """No route left: for a citizen, an agent calls them back (unless it was only the
        acknowledgement of a number they were shown when they made the request)."""
        spec = run.spec
        if spec.template == "ack" and run.ticket.channel in self.jc.cfg.acknowledged_on_submit:
            why = f"no channel carries it; the {run.ticket.channel} confirmation showed the number"
            self._record(run, Outcome(DeliveryStatus.SKIPPED, error=why, attempt=False))
            log.info("job=%s ticket=%s skipped: %s", spec.key, spec.number, why)
            return
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
        self._record(run, outcome)
        log.warning("job=%s ticket=%s reached nobody", spec.key, spec.number)
