"""What a batch of jobs needs from the database, read in one go.

One connection and a few statements per batch (delivery records, tickets with their
citizens' identities, the citizens' latest mails on e-mail tickets, staff) instead of two or
three sessions per job; the routes are then built in memory (`notifier.routing`), exactly as
one job would build its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from intake.domain.enums import Intent
from intake.domain.models import CitizenIdentity, Message, Staff, Ticket
from intake.storage.database import Database
from notifier.facts import (
    IDENTITY_COLUMNS,
    TICKET_COLUMNS,
    IdentityFacts,
    MailThread,
    TicketFacts,
)
from notifier.jobs import CITIZEN, JobSpec
from notifier.models import FINAL_DELIVERY, Delivery, DeliveryStatus
from notifier.routing import Route, citizen_routes, staff_routes
from notifier.team import TEAM, team_routes

_TICKET_WIDTH = len(TICKET_COLUMNS)
MAIL_CHANNEL = "email"


@dataclass
class Batch:
    statuses: dict[str, DeliveryStatus] = field(default_factory=dict)  # by job key, if recorded
    tickets: dict[str, TicketFacts] = field(default_factory=dict)  # by number
    identities: dict[int, list[IdentityFacts]] = field(default_factory=dict)  # by citizen
    staff: dict[int, Staff] = field(default_factory=dict)
    threads: dict[int, MailThread] = field(default_factory=dict)  # by ticket id

    def mail_thread(self, spec: JobSpec, ticket: TicketFacts) -> MailThread | None:
        """The citizen's mail a message to them answers; staff alerts thread under nothing."""
        return self.threads.get(ticket.id) if spec.audience == CITIZEN else None

    def routes(self, spec: JobSpec, ticket: TicketFacts) -> list[Route] | None:
        """The job's routes in order; None when its staff member is gone or inactive."""
        if spec.audience == CITIZEN:
            return citizen_routes(ticket, self.identities.get(ticket.citizen_id, []))
        if spec.audience == TEAM:
            return team_routes(spec)
        member = self.staff.get(spec.staff_id or 0)
        return staff_routes(member) if member is not None and member.active else None


async def load_batch(db: Database, specs: list[JobSpec]) -> Batch:
    """The delivery records of the jobs, and what the unfinished ones need to run."""
    found = Batch()
    if not specs:
        return found
    dialect = db.dialect
    async with db.read() as session:
        if dialect == "postgresql":
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        rows = await session.execute(
            select(Delivery.job_key, Delivery.status).where(
                _one_of(Delivery.job_key, [spec.key for spec in specs], dialect)
            )
        )
        found.statuses = {key: DeliveryStatus(status) for key, status in rows}
        pending = [spec for spec in specs if found.statuses.get(spec.key) not in FINAL_DELIVERY]
        numbers = {spec.number for spec in pending}
        staff_ids = {s.staff_id for s in pending if s.audience != CITIZEN and s.staff_id}
        if numbers:
            pairs = await session.execute(
                select(*TICKET_COLUMNS, *IDENTITY_COLUMNS)
                .outerjoin(CitizenIdentity, CitizenIdentity.citizen_id == Ticket.citizen_id)
                .where(_one_of(Ticket.number, numbers, dialect))
                .order_by(CitizenIdentity.id)
            )
            _collect(found, pairs)
        mail_tickets = _citizen_mail_tickets(found, pending)
        if mail_tickets:
            found.threads = await latest_citizen_mails(session, mail_tickets, dialect)
        if staff_ids:
            members = await session.scalars(select(Staff).where(Staff.id.in_(staff_ids)))
            found.staff = {member.id: member for member in members}
    return found


def _citizen_mail_tickets(found: Batch, pending: list[JobSpec]) -> set[int]:
    """The e-mail tickets of the batch that a citizen is to hear about."""
    tickets = (found.tickets.get(spec.number) for spec in pending if spec.audience == CITIZEN)
    return {t.id for t in tickets if t is not None and t.channel == MAIL_CHANNEL}


async def latest_citizen_mails(
    session: AsyncSession, ticket_ids: Collection[int], dialect: str
) -> dict[int, MailThread]:
    """Per ticket, the latest mail its citizen sent about it (that has a Message-ID).

    One statement for the whole batch, on the indexed `messages.ticket_id`; only the two
    threading fields are read out of the payload (which holds the whole raw mail). Mail the
    core ignored (bounces, auto-replies, our own mail coming back) is not the citizen's.
    """
    message_id = Message.payload[("fields", "message_id")].as_string()
    newest_first = func.row_number().over(
        partition_by=Message.ticket_id, order_by=(Message.received_at.desc(), Message.id.desc())
    )
    ranked = (
        select(
            Message.ticket_id.label("ticket_id"),
            message_id.label("message_id"),
            Message.payload[("fields", "references")].label("references"),
            newest_first.label("rank"),
        )
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            _one_of(Message.ticket_id, ticket_ids, dialect, BigInteger()),
            Message.channel == MAIL_CHANNEL,
            Message.citizen_id == Ticket.citizen_id,
            Message.intent != Intent.IGNORED.value,
            message_id.is_not(None),
        )
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.ticket_id, ranked.c.message_id, ranked.c.references).where(
            ranked.c.rank == 1
        )
    )
    return {ticket_id: MailThread(mid, _id_list(references)) for ticket_id, mid, references in rows}


def _id_list(value: Any) -> tuple[str, ...]:
    """The stored References: a list of ids as the parser wrote it (anything else: none)."""
    if not isinstance(value, list):
        return ()
    return tuple(str(mid) for mid in value if mid)


def _one_of(
    column: Any,
    values: Collection[Any],
    dialect: str,
    element: TypeEngine[Any] | None = None,
) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL one array parameter, so that one prepared plan serves
    any number of values (a parameter per value is planned anew for each batch size)."""
    if dialect == "postgresql":
        array = ARRAY(element if element is not None else String())
        return column == any_(bindparam(None, list(values), type_=array))
    return column.in_(values)  # type: ignore[no-any-return]


def _collect(found: Batch, rows: Any) -> None:
    """Tickets and identities from the joined rows (a ticket repeats once per identity)."""
    identities: dict[int, dict[int, IdentityFacts]] = defaultdict(dict)
    for row in rows:
        ticket = found.tickets.get(row[1])
        if ticket is None:
            ticket = found.tickets[row[1]] = TicketFacts(*row[:_TICKET_WIDTH])
        if row[_TICKET_WIDTH] is not None:
            identity = IdentityFacts(*row[_TICKET_WIDTH:])
            identities[ticket.citizen_id][identity.id] = identity
    found.identities = {citizen: list(by_id.values()) for citizen, by_id in identities.items()}
