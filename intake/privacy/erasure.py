"""Erasure on request (`intake erase --phone`): a citizen's personal data goes, audited.

Whose: the citizens a phone identity joins (an SMS sender, a shared Telegram contact, the web
form's phone) with all their tickets, and every other ticket that names the phone as its
contact. What: the citizens' names and channel identities; the tickets' text, contact and
address; their messages, events' texts, survey reasons, attachments (rows and files) and
delivery details. Texts become `[已删除]`; the tickets' facts stay for statistics.

Each request writes an audit row — operator, time, the phone masked, the counts — in the
same transaction as the erasure: either both happened or neither. Running it again finds
nothing left and records that too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.models import Citizen, CitizenIdentity, Message, Ticket
from intake.domain.phones import mask_phone, normalize_phone
from intake.ingest.attachments import AttachmentStore
from intake.privacy import audit
from intake.privacy.personal_data import (
    ERASED,
    erase_event_text,
    erase_ticket_text,
    remove_attachments,
    scrub_deliveries,
    scrub_prompt_answers,
)
from intake.storage.database import Database

ERASE = "erase"


@dataclass
class ErasureReport:
    citizens: int = 0
    identities: int = 0
    tickets: int = 0
    messages: int = 0
    events: int = 0
    attachments: int = 0
    files: int = 0
    deliveries: int = 0
    prompts: int = 0
    subject: str = field(default="", compare=False)
    audit_id: int = field(default=0, compare=False)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k not in ("subject", "audit_id")}


async def erase_phone(
    db: Database, store: AttachmentStore, *, phone: str, operator: str, now: datetime
) -> ErasureReport:
    """Erase what the phone leads to; raises InvalidInput for a phone that is not one."""
    number = normalize_phone(phone)
    report = ErasureReport(subject=mask_phone(number))
    async with db.write() as session, session.begin():
        citizen_ids = set(
            await session.scalars(
                select(CitizenIdentity.citizen_id).where(
                    CitizenIdentity.kind == "phone", CitizenIdentity.value == number
                )
            )
        )
        ticket_ids = set(
            await session.scalars(
                select(Ticket.id).where(
                    or_(Ticket.citizen_id.in_(citizen_ids), Ticket.contact_phone == number)
                )
            )
        )
        await _erase_tickets(session, store, ticket_ids, report)
        report.messages = await _erase_messages(session, citizen_ids, ticket_ids)
        await _erase_citizens(session, citizen_ids, report)
        entry = audit.record(
            session,
            action=ERASE,
            operator=operator,
            subject=report.subject,
            at=now,
            details=report.counts(),
        )
        await session.flush()
        report.audit_id = entry.id
    return report


async def _erase_tickets(
    session: AsyncSession, store: AttachmentStore, ids: set[int], report: ErasureReport
) -> None:
    if not ids:
        return
    tickets = await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))
    for ticket in tickets:
        if ticket.content != ERASED or ticket.contact_phone or ticket.contact_name:
            erase_ticket_text(ticket)
            report.tickets += 1
    report.events = await erase_event_text(session, ids)
    report.attachments, report.files = await remove_attachments(session, store, ids)
    report.deliveries = await scrub_deliveries(session, ids)
    report.prompts = await scrub_prompt_answers(session, ids)


async def _erase_messages(
    session: AsyncSession, citizen_ids: set[int], ticket_ids: set[int]
) -> int:
    if not citizen_ids and not ticket_ids:
        return 0
    result = await session.execute(
        update(Message)
        .where(
            or_(Message.citizen_id.in_(citizen_ids), Message.ticket_id.in_(ticket_ids)),
            or_(Message.text != ERASED, cast(Message.payload, String) != "{}"),
        )
        .values(text=ERASED, payload={})
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _erase_citizens(session: AsyncSession, ids: set[int], report: ErasureReport) -> None:
    if not ids:
        return
    report.citizens = len(ids)
    await session.execute(
        update(Citizen)
        .where(
            Citizen.id.in_(ids),
            or_(Citizen.name.is_not(None), Citizen.special_reason.is_not(None)),
        )
        .values(name=None, special_reason=None)
        .execution_options(synchronize_session=False)
    )
    gone = await session.execute(
        delete(CitizenIdentity)
        .where(CitizenIdentity.citizen_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    report.identities = int(gone.rowcount or 0)  # type: ignore[attr-defined]
