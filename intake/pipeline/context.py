"""What the pipeline steps share: one message's context and the batch it is processed in.

The worker processes messages in batches inside one transaction; lookups the steps need
(already-seen messages, identities, tickets) are prefetched for the whole batch and kept in
`Batch`, so that a batch of a hundred messages costs a handful of queries, not hundreds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from intake.config import PipelineSettings
from intake.domain.clock import Clock
from intake.domain.enums import Intent
from intake.domain.messages import InboundMessage
from intake.domain.models import Citizen, CitizenIdentity, Message, Ticket, TicketEvent
from intake.domain.new_rows import add, build
from intake.ingest.gateway import Gateway
from intake.interfaces import PromptAnswers
from intake.storage.sql_shapes import padded
from intake.triage.kit import TriageKit
from intake.triage.models import TriageDecision

IdentityKey = tuple[str, str, str]  # kind, account, value


@dataclass
class Batch:
    session: AsyncSession
    gateway: Gateway
    clock: Clock
    triage: TriageKit | None = None
    flood_per_hour: int = 0
    secret: str = field(default="", repr=False)  # keys senders' pseudonyms in Redis keys
    answers: PromptAnswers | None = None  # the notifier's prompts, plugged in by the root
    single_open_channels: frozenset[str] = frozenset()
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)  # closed replies …
    seen: set[tuple[str, str]] = field(default_factory=set)
    identities: dict[IdentityKey, CitizenIdentity] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    events: list[TicketEvent] = field(default_factory=list)  # to publish after the commit
    earliest: datetime | None = None  # the oldest message of the batch (lookback windows)
    # tickets opened in this batch, by citizen (object id) and, once triaged, by category
    new_by_citizen: dict[int, list[Ticket]] = field(default_factory=dict)
    new_by_category: dict[str, list[Ticket]] = field(default_factory=dict)
    lookups: dict[Any, Any] = field(default_factory=dict)  # steps' per-batch query results
    unknown_numbers: set[str] = field(default_factory=set)  # referenced, found in no ticket

    async def prefetch(self, messages: list[InboundMessage]) -> None:
        self.earliest = min((m.received_at for m in messages), default=None)
        by_channel = _by_prefix({(m.channel, m.external_id) for m in messages})
        if self.session.bind.dialect.name == "postgresql":
            # one array parameter per channel and a fixed statement text: a fraction of the
            # CPU of building, caching and compiling the ORM statement for every batch
            connection = await self.session.connection()
            for (channel,), ids in by_channel:
                found = await connection.exec_driver_sql(_SEEN_SQL, (channel, ids))
                self.seen.update((c, e) for c, e in found)
        else:
            rows = await self.session.execute(
                select(Message.channel, Message.external_id).where(
                    or_(
                        *(
                            and_(Message.channel == channel, Message.external_id.in_(ids))
                            for (channel,), ids in by_channel
                        )
                    )
                )
            )
            self.seen.update((c, e) for c, e in rows)
        wanted = {identity_key_of(m) for m in messages} | {
            ("phone", "", p) for m in messages if (p := m.vouched_phone)
        }
        await self._load_identities(wanted)
        missing = wanted - self.identities.keys()
        if missing and self.session.bind.dialect.name == "postgresql":
            # Citizens this batch will create: whoever else is creating one of them (another
            # worker) finishes first, and then we read theirs instead of colliding with it.
            await self.session.execute(_LOCK_KEYS, {"keys": sorted(map(_lock_key, missing))})
            await self._load_identities(missing)
        await self._prefetch_referenced({m.thread_ref for m in messages if m.thread_ref})

    async def _load_identities(self, keys: set[IdentityKey]) -> None:
        groups = _by_prefix(keys)
        if len(groups) == 1:  # the usual batch (one channel, one account): a prebuilt statement
            ((kind, account), values) = groups[0]
            params = {"kind": kind, "account": account, "values": values}
            found = await self.session.scalars(_IDENTITIES_OF_ONE_KIND, params)
        else:
            found = await self.session.scalars(
                _IDENTITIES.where(
                    or_(
                        *(
                            and_(
                                CitizenIdentity.kind == kind,
                                CitizenIdentity.account == account,
                                CitizenIdentity.value.in_(values),
                            )
                            for (kind, account), values in groups
                        )
                    )
                )
            )
        for identity in found:
            self.identities[(identity.kind, identity.account, identity.value)] = identity

    async def _prefetch_referenced(self, refs: set[str]) -> None:
        """Tickets named by thread references (replies to our mail), in one query."""
        numbers = sorted(r for r in refs if r.isdigit())
        if not numbers:
            return
        for ticket in await self.session.scalars(
            select(Ticket).where(Ticket.number.in_(padded(numbers)))
        ):
            self.tickets.setdefault(ticket.number, ticket)
        self.unknown_numbers.update(n for n in numbers if n not in self.tickets)

    async def ticket(self, number: str) -> Ticket | None:
        if number not in self.tickets:
            if number in self.unknown_numbers:
                return None  # looked for with the batch: no such ticket
            found = await self.session.scalar(select(Ticket).where(Ticket.number == number))
            if found is None:
                return None
            self.tickets[number] = found
        return self.tickets[number]

    def add_ticket(self, ticket: Ticket) -> None:
        """A ticket opened in this batch (its citizen set): findable before it is written."""
        self.tickets[ticket.number] = ticket
        self.new_by_citizen.setdefault(id(ticket.citizen), []).append(ticket)

    def add_identity(self, citizen: Citizen, key: IdentityKey) -> CitizenIdentity:
        identity = build(
            CitizenIdentity, citizen=citizen, kind=key[0], account=key[1], value=key[2]
        )
        add(self.session, identity)
        self.identities[key] = identity
        return identity


_IDENTITIES = select(CitizenIdentity).options(
    joinedload(CitizenIdentity.citizen, innerjoin=True)  # with their citizens: one query
)
_IDENTITIES_OF_ONE_KIND = _IDENTITIES.where(
    CitizenIdentity.kind == bindparam("kind"),
    CitizenIdentity.account == bindparam("account"),
    CitizenIdentity.value.in_(bindparam("values", expanding=True)),
)

_SEEN_SQL = (
    "SELECT channel, external_id FROM messages "
    "WHERE channel = $1 AND external_id = ANY($2::varchar[])"
)

# Transaction-scoped advisory locks, taken in key order so that two batches cannot deadlock.
_LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(k) FROM "
    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS sorted_keys"
)


def _lock_key(key: IdentityKey) -> int:
    """A signed 64-bit advisory-lock number for an identity."""
    digest = hashlib.blake2b("\x1f".join(("identity", *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _by_prefix(keys: set[tuple[str, ...]]) -> list[tuple[tuple[str, ...], list[str]]]:
    """Keys grouped by all but their last part, for `a = … AND b IN (…)` per group.

    A row-value `(a, b) IN ((…), …)` of a batch's keys is planned by PostgreSQL as one OR-ed
    branch per key: tens of milliseconds per batch. Grouped, each group is one index scan.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for key in keys:
        groups.setdefault(key[:-1], []).append(key[-1])
    return [(prefix, padded(sorted(last))) for prefix, last in sorted(groups.items())]


def identity_key_of(message: InboundMessage) -> IdentityKey:
    sender = message.sender
    return (sender.kind.value, sender.account, sender.value)


@dataclass
class Context:
    entry_id: str
    message: InboundMessage
    batch: Batch
    payload: dict[str, Any] = field(default_factory=dict)  # the message as it was queued
    number: str | None = None  # assigned at the edge when the channel opens a ticket
    query_code: str | None = None
    citizen: Citizen | None = None
    intent: Intent | None = None
    ticket: Ticket | None = None
    record: Message | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    assessment: TriageDecision | None = None
    outcome_note: str | None = None
    prompt: Any = None  # the prompt this message answers (`PromptAnswers.recognise`)
    reply_text: str | None = None  # a reply decided while processing (rating thanks …)
    answered: TicketEvent | None = None  # the close event when triage answered at once
    open_tickets: list[dict[str, str]] = field(default_factory=list)
    sender_count: int | None = None  # the sender's messages this hour, this one included
    stopped: str | None = None

    def decide(self, step: str, outcome: str, **why: Any) -> None:
        """Record a decision with its reason; it is stored on the ticket's events."""
        self.decisions.append({"step": step, "outcome": outcome, **why})
