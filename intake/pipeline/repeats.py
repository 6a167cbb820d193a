"""Repeats and duplicates in the pipeline (判重).

Two steps. `refine_intent` runs right after the intent is decided: "the answer did not help"
reopens a direct answer (`not_helpful`), and a citizen writing the same thing again while
their ticket is open is attached to that ticket as a repeat instead of opening a new one (the
third repeat flags supervision, 督办). `link_duplicate` runs after triage: a new ticket that
reports the same problem as another citizen's open ticket nearby is linked to it as its master
(`intake.tickets.linked` passes the master's reply and closure on). A request numbered at the edge
(web form, Telegram wizard) keeps its ticket, since the citizen already holds the number: a
repeat of one's own open ticket is then linked to it and counted there.

Candidates come from indexed queries that read a few columns, not whole tickets, run once
per batch and filtered per message (the open tickets of the batch's citizens; open masters
of the same category and district, newest first and capped; a coordinate box per message
when only a point is known), plus the tickets opened in this batch, indexed by citizen and
category; only the ticket that matches is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm.util import identity_key

from intake.domain.enums import TERMINAL_STATUSES, EventKind, Intent, TicketStatus
from intake.domain.events import add_event
from intake.domain.models import Ticket
from intake.pipeline.context import Context
from intake.pipeline.not_helpful import reopen_if_not_helpful
from intake.storage.sql_shapes import padded
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

# Statements are built once (bind parameters per call): building them is most of their cost.
# Both run once per batch and are filtered per message in Python (sender, lookback window).
_RANKED_OWN = (
    select(
        Ticket.id,
        Ticket.citizen_id,
        Ticket.content,
        Ticket.created_at,
        func.row_number()
        .over(partition_by=Ticket.citizen_id, order_by=Ticket.id.desc())
        .label("rank"),
    )
    .where(
        Ticket.citizen_id.in_(bindparam("citizens", expanding=True)),
        Ticket.status.in_(_OPEN),
        Ticket.created_at >= bindparam("since"),
    )
    .subquery()
)
_OWN_OPEN_TICKETS = select(Ticket).where(
    Ticket.id.in_(select(_RANKED_OWN.c.id).where(_RANKED_OWN.c.rank <= OWN_TICKETS_LIMIT))
)
_MASTERS = select(
    Ticket.id,
    Ticket.content,
    Ticket.district,
    Ticket.street,
    Ticket.latitude,
    Ticket.longitude,
    Ticket.citizen_id,
    Ticket.created_at,
).where(
    Ticket.category == bindparam("category"),
    Ticket.created_at >= bindparam("since"),
    Ticket.status.in_(_LINKABLE),
    Ticket.master_ticket_id.is_(None),
    Ticket.request_type.in_(bindparam("types", expanding=True)),
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
MasterRow = tuple[int, str, str | None, str | None, float | None, float | None, int, datetime]


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
    """The citizen's open tickets in the window: saved ones (one query per batch) and new ones."""
    citizen = ctx.citizen
    if citizen is None:
        return []
    since = ctx.message.received_at - kit.follow_ups.repeats.window
    new = ctx.batch.new_by_citizen.get(id(citizen), [])
    found: list[Candidate] = []
    if citizen.id is not None:
        skip = {t.__dict__.get("id") for t in new}  # written mid-batch: listed below already
        if exclude is not None:
            skip.add(exclude.id)
        rows = (await _own_open_rows(ctx, kit)).get(citizen.id, [])
        found = [Candidate(i, c, Place()) for i, c, at in rows if at >= since and i not in skip]
    unsaved = [
        Candidate(t.__dict__.get("id"), t.content, _place(t), t)
        for t in new
        if t is not exclude and t.created_at >= since and t.status not in _CLOSED
    ]
    return found + unsaved


async def _own_open_rows(
    ctx: Context, kit: TriageKit
) -> dict[int, list[tuple[int, str, datetime]]]:
    """Open tickets of every known citizen of the batch, newest first, read once per batch."""
    batch = ctx.batch
    found: dict[int, list[tuple[int, str, datetime]]] | None = batch.lookups.get("own_open")
    if found is None:
        citizens = sorted(
            {c for i in batch.identities.values() if (c := i.__dict__.get("citizen_id"))}
        )
        earliest = batch.earliest or ctx.message.received_at
        found, loaded = {}, {}
        if citizens:
            since = earliest - kit.follow_ups.repeats.window
            params = {"citizens": padded(citizens), "since": since}
            with batch.session.no_autoflush:  # this batch's unsaved tickets are looked at apart
                tickets = (await batch.session.scalars(_OWN_OPEN_TICKETS, params)).all()
            for ticket in sorted(tickets, key=lambda t: t.id, reverse=True):
                loaded[ticket.id] = ticket
                found.setdefault(ticket.citizen_id, []).append(
                    (ticket.id, ticket.content, ticket.created_at)
                )
        batch.lookups["own_open"] = found
        # whole tickets: a message repeating its sender's open ticket is common, and then the
        # ticket is at hand (held here: the identity map keeps weak references)
        batch.lookups["own_open_loaded"] = loaded
    return found


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
    ctx.batch.new_by_category.setdefault(ticket.category or "", []).append(ticket)
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
    citizen = ctx.citizen
    citizen_id = citizen.id if citizen is not None else None
    since = ctx.message.received_at - rules.window
    new = ctx.batch.new_by_category.get(ticket.category or "", [])
    skip = {t.__dict__.get("id") for t in new}  # written mid-batch: listed below already
    rows = [
        row
        for row in await _master_rows(ctx, ticket, here, kit)
        if row[7] >= since and row[6] != citizen_id and row[0] not in skip
    ][: rules.max_candidates]
    candidates = [Candidate(row[0], row[1], Place(*row[2:6])) for row in rows] + [
        Candidate(t.__dict__.get("id"), t.content, _place(t), t)
        for t in new
        if t is not ticket
        and t.citizen is not citizen
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


async def _master_rows(
    ctx: Context, ticket: Ticket, here: Place, kit: TriageKit
) -> list[MasterRow]:
    """Open masters of the category in the district (one query per district and batch), else
    inside a box around the point; the sender's own are filtered out by the caller."""
    rules, batch = kit.follow_ups.duplicates, ctx.batch
    earliest = min(batch.earliest or ctx.message.received_at, ctx.message.received_at)
    params: dict[str, Any] = {
        "category": ticket.category,
        "since": earliest - rules.window,
        "types": sorted(rules.request_types),
        "limit": rules.max_candidates * 2,  # room for the sender's own, filtered out later
    }
    if here.district is not None:
        key = ("masters", ticket.category, here.district)
        cached: list[MasterRow] | None = batch.lookups.get(key)
        if cached is None:
            params["district"] = here.district
            cached = batch.lookups[key] = await _rows(ctx, _MASTERS_IN_DISTRICT, params)
        return cached
    assert here.latitude is not None and here.longitude is not None
    dlat, dlon = degrees_around(here.latitude, rules.radius_m)
    box = {
        "lat_min": here.latitude - dlat,
        "lat_max": here.latitude + dlat,
        "lon_min": here.longitude - dlon,
        "lon_max": here.longitude + dlon,
    }
    return await _rows(ctx, _MASTERS_IN_BOX, {**params, **box})


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
        ticket = session.sync_session.identity_map.get(identity_key(Ticket, candidate.id))
        if ticket is None:  # not loaded in this batch yet (the map needs no round trip)
            ticket = ctx.batch.lookups.get("own_open_loaded", {}).get(candidate.id)
        if ticket is None:
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
