"""Repeats and duplicates in the pipeline (issue 7 item 6, 判重).

Two steps. `refine_intent` runs right after the intent is decided: "the answer did not help"
reopens a direct answer (`not_helpful`), and a citizen writing the same thing again while
their ticket is open is attached to that ticket as a repeat instead of opening a new one (the
third repeat flags supervision, 督办). `link_duplicate` runs after triage: a new ticket that
reports the same problem as another citizen's open ticket nearby is linked to it as its master
(`intake.linked` passes the master's reply and closure on). A request numbered at the edge
(web form, Telegram wizard) keeps its ticket, since the citizen already holds the number: a
repeat of one's own open ticket is then linked to it and counted there.

Candidates come from indexed queries that read a few columns, not whole tickets (the
citizen's open tickets; open masters of the same category and district, or inside a
coordinate box, newest first and capped) plus the tickets of this batch not yet written;
only the ticket that matches is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select

from intake.enums import TERMINAL_STATUSES, EventKind, Intent, TicketStatus
from intake.events import add_event
from intake.models import Ticket
from intake.pipeline.context import Context
from intake.pipeline.not_helpful import reopen_if_not_helpful
from intake.triage.duplicates import (
    Features,
    Place,
    degrees_around,
    features,
    nearness,
    resemblance,
    shared_terms,
)
from intake.triage.kit import TriageKit

_CLOSED = frozenset(s.value for s in TERMINAL_STATUSES)
_OPEN = tuple(s.value for s in TicketStatus if s.value not in _CLOSED)
# a master must still be waiting for its answer: once replied, a new report gets its own
_LINKABLE = tuple(s for s in _OPEN if s != TicketStatus.REPLIED.value)
OWN_TICKETS_LIMIT = 20
NOBODY = -1  # a citizen id no row has: the "not the sender" filter for a sender not yet saved

# Statements are built once (bind parameters per call): building them is most of their cost.
_OWN_OPEN = (
    select(Ticket.id, Ticket.content)
    .where(
        Ticket.citizen_id == bindparam("citizen"),
        Ticket.status.in_(_OPEN),
        Ticket.created_at >= bindparam("since"),
    )
    .order_by(Ticket.id.desc())
    .limit(OWN_TICKETS_LIMIT)
)
_MASTERS = select(
    Ticket.id, Ticket.content, Ticket.district, Ticket.street, Ticket.latitude, Ticket.longitude
).where(
    Ticket.category == bindparam("category"),
    Ticket.created_at >= bindparam("since"),
    Ticket.status.in_(_LINKABLE),
    Ticket.master_ticket_id.is_(None),
    Ticket.request_type.in_(bindparam("types", expanding=True)),
    Ticket.citizen_id != bindparam("citizen"),
)
_NEWEST = (Ticket.created_at.desc(), Ticket.id.desc())
# served by ix_tickets_nearby (category, district, created_at)
_MASTERS_IN_DISTRICT = (
    _MASTERS.where(Ticket.district == bindparam("district"))
    .order_by(*_NEWEST)
    .limit(bindparam("limit"))
)
_MASTERS_IN_BOX = (
    _MASTERS.where(
        Ticket.latitude.between(bindparam("lat_min"), bindparam("lat_max")),
        Ticket.longitude.between(bindparam("lon_min"), bindparam("lon_max")),
    )
    .order_by(*_NEWEST)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ticket to compare with: its id and what is compared (the ticket itself if unsaved)."""

    id: int | None
    content: str
    place: Place
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class Match:
    ticket: Ticket
    score: float
    shared: tuple[str, ...]
    place: str | None = None


async def refine_intent(ctx: Context) -> None:
    kit = ctx.batch.triage
    if kit is None or ctx.number or ctx.intent not in (Intent.NEW_REQUEST, Intent.FOLLOW_UP):
        return
    if await reopen_if_not_helpful(ctx, kit.follow_ups.not_helpful):
        return
    match = await _own_repeat(ctx, kit)
    if match is None:
        return
    rules = kit.follow_ups.repeats
    await _count_repeat(ctx, kit, match, attached=True)
    ctx.intent, ctx.ticket = Intent.FOLLOW_UP, match.ticket
    ctx.decide(
        "intent",
        Intent.FOLLOW_UP,
        reason="repeat of the citizen's open ticket",
        rule_id="repeat:same-citizen",
        ticket=match.ticket.number,
        score=match.score,
        matched=list(match.shared),
    )
    ctx.reply_text = rules.reply.format(ticket=match.ticket.number, count=match.ticket.repeat_count)


async def _own_repeat(ctx: Context, kit: TriageKit) -> Match | None:
    """The citizen's open ticket this message repeats; an explicit thread reply never counts."""
    if not ctx.message.text.strip():
        return None
    if ctx.intent is Intent.FOLLOW_UP:
        ticket = ctx.ticket
        if ticket is None or ctx.message.thread_ref or ticket.status in _CLOSED:
            return None
        candidates = [Candidate(ticket.id, ticket.content, _place(ticket), ticket)]
    else:
        candidates = await _own_open_tickets(ctx, kit, exclude=None)
    if not candidates:
        return None
    mine = features(kit.triage, ctx.message.text)
    return await _best(ctx, kit, mine, candidates, kit.follow_ups.repeats.min_similarity)


async def _own_open_tickets(
    ctx: Context, kit: TriageKit, *, exclude: Ticket | None
) -> list[Candidate]:
    citizen = ctx.citizen
    if citizen is None:
        return []
    since = ctx.message.received_at - kit.follow_ups.repeats.window
    found: list[Candidate] = []
    if citizen.id is not None:
        rows = await _rows(ctx, _OWN_OPEN, {"citizen": citizen.id, "since": since})
        skip = exclude.id if exclude is not None else None
        found = [Candidate(i, c, Place()) for i, c in rows if i != skip]
    unsaved = [
        Candidate(None, t.content, _place(t), t)
        for t in _unsaved(ctx)
        if t is not exclude
        and t.citizen is citizen
        and t.created_at >= since
        and t.status not in _CLOSED
    ]
    return found + unsaved


async def _count_repeat(ctx: Context, kit: TriageKit, match: Match, *, attached: bool) -> None:
    """One more repeat on the ticket (an internal event says why); the n-th flags 督办."""
    rules = kit.follow_ups.repeats
    ticket, now = match.ticket, ctx.batch.clock()
    ticket.repeat_count = (ticket.repeat_count or 0) + 1
    ticket.updated_at = now
    supervise = ticket.repeat_count >= rules.supervise_after and not ticket.supervision
    if supervise:
        ticket.supervision = True
        await _supervise_master(ctx, ticket)
    ctx.batch.events.append(
        add_event(
            ctx.batch.session,
            ticket,
            EventKind.REPEAT,
            at=now,
            actor_kind="citizen",
            public=False,
            text=ctx.message.text,
            data={
                "rule_id": "repeat:same-citizen",
                "score": match.score,
                "matched": list(match.shared),
                "repeat_count": ticket.repeat_count,
                "supervision": supervise,
                "supervise_after": rules.supervise_after,
                "channel": ctx.message.channel,
                "attached": attached,
                "new_ticket": None if attached else ctx.number,
            },
        )
    )


async def _supervise_master(ctx: Context, ticket: Ticket) -> None:
    """A repeated ticket that is linked: the master is the one being handled, flag it too."""
    if ticket.master_ticket_id is None:
        return
    master = await ctx.batch.session.get(Ticket, ticket.master_ticket_id)
    if master is not None:
        master.supervision = True


async def link_duplicate(ctx: Context) -> None:
    """After triage: link a new open ticket to the open ticket it duplicates, if any."""
    kit, ticket = ctx.batch.triage, ctx.ticket
    if kit is None or ticket is None or ctx.intent is not Intent.NEW_REQUEST:
        return
    if ticket.status in _CLOSED or ctx.assessment is None or ctx.assessment.emergency:
        return
    if not ticket.content.strip():
        return
    mine = features(kit.triage, ticket.content)
    if ctx.number:  # numbered at the edge: a repeat of one's own open ticket is linked to it
        own = await _own_open_tickets(ctx, kit, exclude=ticket)
        match = await _best(ctx, kit, mine, own, kit.follow_ups.repeats.min_similarity)
        if match is not None:
            await _count_repeat(ctx, kit, match, attached=False)
            await _link(ctx, ticket, match, rule_id="repeat:same-citizen")
            return
    match = await _other_citizens_report(ctx, kit, ticket, mine)
    if match is not None:
        await _link(ctx, ticket, match, rule_id="duplicate:same-problem")


async def _other_citizens_report(
    ctx: Context, kit: TriageKit, ticket: Ticket, mine: Features
) -> Match | None:
    rules, assessment = kit.follow_ups.duplicates, ctx.assessment
    assert assessment is not None
    if ticket.request_type not in rules.request_types:
        return None
    if not kit.triage.is_confident(assessment.category):
        return None
    here = _place(ticket)
    if here.district is None and not here.has_point:
        return None  # nowhere known: "nearby" cannot be told
    query, params = _nearby_query(ctx, ticket, here, kit)
    found = await _rows(ctx, query, params)
    candidates = [Candidate(row[0], row[1], Place(*row[2:])) for row in found] + [
        Candidate(None, t.content, _place(t), t)
        for t in _unsaved(ctx)
        if t is not ticket
        and t.category == ticket.category
        and t.citizen is not ctx.citizen
        and t.request_type in rules.request_types
        and t.master_ticket_id is None
        and t.status in _LINKABLE
    ]
    best: tuple[float, Candidate, Features, str] | None = None
    for candidate in candidates:
        place = nearness(here, candidate.place, radius_m=rules.radius_m)
        if place is None:
            continue
        floor = rules.min_similarity_district if place == "district" else rules.min_similarity
        theirs = features(kit.triage, candidate.content)
        score = resemblance(mine, theirs)
        if score >= floor and (best is None or score > best[0]):
            best = (score, candidate, theirs, place)
    if best is None:
        return None
    score, candidate, theirs, place = best
    master = await _load(ctx, candidate, _LINKABLE)
    return Match(master, score, shared_terms(mine, theirs), place) if master else None


def _nearby_query(
    ctx: Context, ticket: Ticket, here: Place, kit: TriageKit
) -> tuple[Select[Any], dict[str, Any]]:
    """Open masters of the category in the district, else inside a box around the point."""
    rules, citizen = kit.follow_ups.duplicates, ctx.citizen
    params: dict[str, Any] = {
        "category": ticket.category,
        "since": ctx.message.received_at - rules.window,
        "types": sorted(rules.request_types),
        "citizen": citizen.id if citizen is not None and citizen.id is not None else NOBODY,
        "limit": rules.max_candidates,
    }
    if here.district is not None:
        return _MASTERS_IN_DISTRICT, {**params, "district": here.district}
    assert here.latitude is not None and here.longitude is not None
    dlat, dlon = degrees_around(here.latitude, rules.radius_m)
    box = {
        "lat_min": here.latitude - dlat,
        "lat_max": here.latitude + dlat,
        "lon_min": here.longitude - dlon,
        "lon_max": here.longitude + dlon,
    }
    return _MASTERS_IN_BOX, {**params, **box}


async def _link(ctx: Context, ticket: Ticket, match: Match, *, rule_id: str) -> None:
    """`ticket` joins `match.ticket` (the master); both carry an internal event saying why."""
    session, master, now = ctx.batch.session, match.ticket, ctx.batch.clock()
    if master.id is None:  # opened earlier in this batch: its id is needed for the link
        await session.flush()
    ticket.master_ticket_id = master.id
    why = {"rule_id": rule_id, "score": match.score, "matched": list(match.shared)}
    if match.place:
        why["place"] = match.place
    ctx.decide("duplicate", "linked", master=master.number, **why)
    for on, other, role in ((ticket, master, "master"), (master, ticket, "linked")):
        ctx.batch.events.append(
            add_event(
                session,
                on,
                EventKind.LINKED,
                at=now,
                public=False,
                message=ctx.record if on is ticket else None,
                data={role: other.number, **why},
            )
        )


async def _best(
    ctx: Context,
    kit: TriageKit,
    mine: Features,
    candidates: Iterable[Candidate],
    floor: float,
) -> Match | None:
    """The most similar candidate at or above `floor`, loaded, if it is still open."""
    best: tuple[float, Candidate, Features] | None = None
    for candidate in candidates:
        theirs = features(kit.triage, candidate.content)
        score = resemblance(mine, theirs)
        if score >= floor and (best is None or score > best[0]):
            best = (score, candidate, theirs)
    if best is None:
        return None
    score, candidate, theirs = best
    ticket = await _load(ctx, candidate, _OPEN)
    return Match(ticket, score, shared_terms(mine, theirs)) if ticket else None


async def _load(ctx: Context, candidate: Candidate, statuses: Sequence[str]) -> Ticket | None:
    """The candidate's ticket (from the session's identity map when it is there already)."""
    ticket = candidate.ticket
    if ticket is None:
        session = ctx.batch.session
        with session.no_autoflush:
            ticket = await session.get(Ticket, candidate.id)
        if ticket is None:
            return None
        ticket = ctx.batch.tickets.setdefault(ticket.number, ticket)
    return ticket if ticket.status in statuses else None


def _place(ticket: Ticket) -> Place:
    return Place(ticket.district, ticket.street, ticket.latitude, ticket.longitude)


async def _rows(ctx: Context, query: Select[Any], params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Without autoflush: this batch's unsaved tickets are looked at in memory instead."""
    session = ctx.batch.session
    with session.no_autoflush:
        return [tuple(row) for row in await session.execute(query, params)]


def _unsaved(ctx: Context) -> list[Ticket]:
    """Tickets opened earlier in this batch and not flushed yet (their relations are set).

    Read from the instance dict, not the instrumented attribute: the batch may hold hundreds
    of loaded tickets and this runs for every message.
    """
    return [t for t in ctx.batch.tickets.values() if t.__dict__.get("id") is None]
