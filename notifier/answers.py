"""Answers to prompts, from any channel: matched, recorded on the ticket, acted upon.

Matching never guesses across citizens: a quoted code counts only among the sender's own
prompts, and without one the sender's most recent pending prompt is taken. An answer that is
late (answered or expired prompt) or matches nothing gets a polite reply and changes nothing.
An unsatisfied rating reopens the ticket (重新办理) and flags it for supervision (督办); the
RATED event it writes is what alerts the department (through the domain-event stream).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import metrics
from intake.domain.enums import EventKind, Resolution, TicketStatus
from intake.domain.errors import InvalidInput
from intake.domain.events import add_event
from intake.domain.lifecycle import may_reopen, reopen
from intake.domain.messages import SenderIdentity
from intake.domain.models import CitizenIdentity, Ticket, TicketEvent
from intake.error_summary import describe
from intake.interfaces import AnswerOutcome, AppliedAnswer
from intake.storage.outbox import OutboxRelay
from intake.texts import Renderer
from notifier.config import load_notify_settings
from notifier.links import RATING_ZH
from notifier.models import Prompt, PromptKind, PromptStatus
from notifier.parse import ParsedAnswer, find_code, fold, parse_dimensions, parse_rating
from notifier.parts import NotifierParts
from notifier.prompts import ensure_prompt

log = logging.getLogger(__name__)

SHORT_ANSWER = 30  # a longer message with 满意 in it is a new request, not a rating

__all__ = ["AnswerOutcome", "PromptBook", "record_answer"]


@dataclass
class Applied:
    status: str
    template: str
    ticket: Ticket | None = None
    rating: str | None = None
    reopened: bool = False
    events: list[TicketEvent] = field(default_factory=list)


@lru_cache(maxsize=8)
def renderer_for(override: Path | None, lang: str) -> Renderer:
    return Renderer(override=override, default_lang=lang)


async def record_answer(
    parts: NotifierParts,
    *,
    text: str,
    channel: str,
    citizen_id: int | None = None,
    identity: SenderIdentity | None = None,
    now: datetime | None = None,
) -> AnswerOutcome:
    """Record a citizen's reply to a survey or dimensions prompt (the pipeline's RATING intent)."""
    cfg = load_notify_settings(parts.notify)
    renderer = renderer_for(cfg.templates_dir, cfg.language)
    at = now or parts.clock()
    async with parts.db.write() as session, session.begin():
        cid = citizen_id or await _citizen_of(session, identity)
        prompt = await match_prompt(session, cid, text) if cid else None
        if prompt is None:
            return AnswerOutcome("unmatched", renderer.render("answer_unmatched", {}).text)
        applied = await apply_answer(session, prompt, _parse(prompt, text), channel=channel, now=at)
        number = applied.ticket.number if applied.ticket else None
    await publish(parts.relay, applied.events)
    context = {"number": number, "status": prompt.status}
    log.info(
        "answer channel=%s prompt=%s ticket=%s: %s", channel, prompt.id, number, applied.status
    )
    return AnswerOutcome(
        applied.status,
        renderer.render(applied.template, context).text,
        ticket_number=number,
        prompt_id=prompt.id,
        rating=applied.rating,
        reopened=applied.reopened,
    )


class PromptBook:
    """The notifier's prompts as the core's `PromptAnswers`: the pipeline recognises and
    applies answers in its own transaction; a channel's button records one on its own."""

    def __init__(self, parts: NotifierParts) -> None:
        self._parts = parts

    async def recognise(self, session: AsyncSession, *, citizen_id: int, text: str) -> Any:
        short = len(fold(text)) <= SHORT_ANSWER
        rating_like = short and parse_rating(text).rating is not None
        if not (rating_like or find_code(text) or (short and parse_dimensions(text).dimensions)):
            return None
        prompt = await match_prompt(session, citizen_id, text)
        if prompt is None:
            return None
        if prompt.status != PromptStatus.PENDING.value and not rating_like:
            return None  # a late answer is recognised only when it plainly is one
        return prompt

    async def apply(
        self, session: AsyncSession, prompt: Any, *, text: str, channel: str, now: datetime
    ) -> AppliedAnswer:
        parsed = _parse(prompt, text)
        applied = await apply_answer(session, prompt, parsed, channel=channel, now=now)
        cfg = load_notify_settings(self._parts.notify)
        number = applied.ticket.number if applied.ticket else None
        reply = renderer_for(cfg.templates_dir, cfg.language).render(
            applied.template, {"number": number, "status": prompt.status}
        )
        return AppliedAnswer(events=applied.events, ticket=applied.ticket, reply_text=reply.text)

    async def record(self, *, text: str, channel: str, identity: SenderIdentity) -> AnswerOutcome:
        return await record_answer(self._parts, text=text, channel=channel, identity=identity)

    async def rate_ticket(self, *, ticket_id: int, rating: str, channel: str) -> AnswerOutcome:
        return await rate_ticket(self._parts, ticket_id=ticket_id, rating=rating, channel=channel)


async def rate_ticket(
    parts: NotifierParts,
    *,
    ticket_id: int,
    rating: str,
    channel: str,
    now: datetime | None = None,
) -> AnswerOutcome:
    """A rating given where the ticket is shown (the web status page) answers the survey of the
    ticket's latest closing: the prompt the survey job uses (`survey:<event id>`), created here
    when the survey has not gone out yet, so either way the ticket is rated once."""
    if rating not in RATING_ZH:
        raise InvalidInput("rating must be satisfied, basic or unsatisfied", field="rating")
    cfg = load_notify_settings(parts.notify)
    renderer = renderer_for(cfg.templates_dir, cfg.language)
    at = now or parts.clock()
    async with parts.db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        closing = await session.scalar(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == EventKind.CLOSED.value)
            .order_by(TicketEvent.id.desc())
            .limit(1)
        )
    declined = closing is not None and closing.data.get("resolution") == Resolution.DECLINED.value
    if ticket is None or closing is None or ticket.status != TicketStatus.CLOSED.value or declined:
        return AnswerOutcome("unmatched", renderer.render("answer_unmatched", {}).text)
    prompt = await ensure_prompt(
        parts.db,
        job_key=f"survey:{closing.id}",
        ticket=ticket,
        kind=PromptKind.SURVEY,
        channel=channel,
        cfg=cfg,
        now=at,
    )
    async with parts.db.write() as session, session.begin():
        locked = await session.get(
            Prompt, prompt.id, with_for_update=session.bind.dialect.name == "postgresql"
        )
        assert locked is not None
        applied = await apply_answer(
            session, locked, ParsedAnswer(rating=rating), channel=channel, now=at
        )
    await publish(parts.relay, applied.events)
    number = applied.ticket.number if applied.ticket else None
    log.info("rating %s prompt=%s ticket=%s: %s", channel, prompt.id, number, applied.status)
    return AnswerOutcome(
        applied.status,
        renderer.render(applied.template, {"number": number, "status": locked.status}).text,
        ticket_number=number,
        prompt_id=prompt.id,
        rating=applied.rating,
        reopened=applied.reopened,
    )


def _parse(prompt: Prompt, text: str) -> ParsedAnswer:
    if prompt.kind == PromptKind.DIMENSIONS.value:
        return parse_dimensions(text)
    return parse_rating(text)


async def _citizen_of(session: AsyncSession, identity: SenderIdentity | None) -> int | None:
    if identity is None:
        return None
    return await session.scalar(
        select(CitizenIdentity.citizen_id).where(
            CitizenIdentity.kind == identity.kind.value,
            CitizenIdentity.account == identity.account,
            CitizenIdentity.value == identity.value,
        )
    )


async def match_prompt(session: AsyncSession, citizen_id: int, text: str) -> Prompt | None:
    """The sender's prompt quoted by code, else their newest pending one, else their newest."""
    mine = select(Prompt).where(Prompt.citizen_id == citizen_id)
    if session.bind.dialect.name == "postgresql":
        mine = mine.with_for_update()
    newest = (Prompt.created_at.desc(), Prompt.id.desc())
    code = find_code(text)
    if code:
        quoted = await session.scalar(mine.where(Prompt.code == code))
        if quoted is not None:
            return quoted
    pending = await session.scalar(
        mine.where(Prompt.status == PromptStatus.PENDING.value).order_by(*newest).limit(1)
    )
    return pending or await session.scalar(mine.order_by(*newest).limit(1))


async def apply_answer(
    session: AsyncSession, prompt: Prompt, parsed: ParsedAnswer, *, channel: str, now: datetime
) -> Applied:
    ticket = await session.get(Ticket, prompt.ticket_id)
    if prompt.status == PromptStatus.PENDING.value and prompt.expires_at <= now:
        prompt.status = PromptStatus.EXPIRED.value
    if prompt.status != PromptStatus.PENDING.value:
        return Applied("late", "answer_late", ticket)
    if prompt.kind == PromptKind.DIMENSIONS.value:
        return _dimensions(session, prompt, ticket, parsed, channel, now)
    if parsed.rating is None:
        return Applied("unclear", "answer_unclear", ticket)
    answer = {"rating": parsed.rating, "solved": parsed.solved, "channel": channel}
    _answered(prompt, answer, now)
    assert ticket is not None
    event = add_event(
        session,
        ticket,
        EventKind.RATED,
        at=now,
        actor_kind="citizen",
        data={
            "prompt_id": prompt.id,
            "prompt_kind": prompt.kind,
            "rating": parsed.rating,
            "rating_zh": RATING_ZH[parsed.rating],
            "solved": parsed.solved,
            "channel": channel,
        },
    )
    applied = Applied("recorded", "answer_thanks", ticket, rating=parsed.rating, events=[event])
    if parsed.rating == "unsatisfied":
        applied.template = "answer_unsatisfied"
        applied.reopened = _reopen(session, ticket, prompt, now, applied.events)
    return applied


def _answered(prompt: Prompt, answer: dict[str, Any], now: datetime) -> None:
    prompt.status = PromptStatus.ANSWERED.value
    prompt.answer = answer
    prompt.answered_at = now


def _dimensions(
    session: AsyncSession,
    prompt: Prompt,
    ticket: Ticket | None,
    parsed: ParsedAnswer,
    channel: str,
    now: datetime,
) -> Applied:
    if parsed.dimensions is None and not parsed.reason:
        return Applied("unclear", "answer_unclear", ticket)
    dims = dict(zip(("efficiency", "attitude", "result"), parsed.dimensions or (), strict=False))
    _answered(prompt, {"dimensions": dims, "reason": parsed.reason, "channel": channel}, now)
    assert ticket is not None
    event = add_event(
        session,
        ticket,
        EventKind.RATED,
        at=now,
        actor_kind="citizen",
        public=False,
        text=parsed.reason or None,
        data={
            "prompt_id": prompt.id,
            "prompt_kind": prompt.kind,
            "dimensions": dims,
            "channel": channel,
        },
    )
    return Applied("recorded", "answer_dimensions", ticket, events=[event])


def _reopen(
    session: AsyncSession, ticket: Ticket, prompt: Prompt, now: datetime, events: list[TicketEvent]
) -> bool:
    """不满意: back to handling, under supervision. Already reopened: only the flag."""
    ticket.supervision = True
    ticket.updated_at = now
    if not may_reopen(ticket):
        return False
    events.append(
        reopen(
            session,
            ticket,
            at=now,
            reason="unsatisfied_rating",
            text="回访不满意，重新办理",
            actor_kind="system",
            data={"prompt_id": prompt.id, "supervision": True},
        )
    )
    return True


async def publish(relay: OutboxRelay, events: list[TicketEvent]) -> None:
    """Publish at once; if Redis blinks, the outbox relay publishes them later."""
    metrics.survey_answers_recorded(events)  # committed: counted once
    try:
        await relay.publish(events)
    except Exception as exc:
        log.warning("answer events left to the relay: %s", describe(exc))
