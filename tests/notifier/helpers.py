"""Tickets, staff and event lookups for the notifier tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import CitizenIdentity, Staff, Ticket, TicketEvent
from intake.runtime import Runtime
from notifier.models import Delivery

if TYPE_CHECKING:
    from notifier.service import Notifier
    from tests.notifier.conftest import FakeClock

PHONE = "+8613812345678"
EMAIL = "citizen@example.test"


async def new_ticket(
    runtime: Runtime,
    *,
    channel: str = "email",
    external_id: str = "m1",
    phone: str | None = PHONE,
    sender: SenderIdentity | None = None,
    text: str = "幸福路12号楼下烧烤店油烟很大，请处理。",
) -> str:
    default = (
        sender
        or {
            "email": SenderIdentity(IdentityKind.EMAIL, EMAIL),
            "sms": SenderIdentity(IdentityKind.PHONE, phone or PHONE),
            "wechat": SenderIdentity(IdentityKind.WECHAT, "openid-1", account="gh_city"),
        }[channel]
    )
    message = InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=default,
        kind=MessageKind.TEXT,
        received_at=runtime.clock(),
        text=text,
        fields={"contact_phone": phone} if phone else {},
    )
    await runtime.gateway.submit(message)
    await runtime.pipeline_worker(consumer="test").drain(limit_s=30)
    async with runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket)
            .join(Ticket.events)
            .where(TicketEvent.text == text)
            .order_by(Ticket.id.desc())
        )
    assert ticket is not None
    return ticket.number


async def staff(
    runtime: Runtime,
    role: Role,
    department: str | None = None,
    contact: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str]]:
    async with runtime.db.write() as session, session.begin():
        member, token = await add_staff(
            session,
            name=f"{role.value}-{department}",
            role=role,
            department=department,
            catalog=runtime.catalog,
        )
        member.contact = contact or {}
    return member.id, {"Authorization": f"Bearer {token}"}


async def events(runtime: Runtime, number: str, *kinds: str) -> list[TicketEvent]:
    async with runtime.db.read() as session:
        query = (
            select(TicketEvent).join(Ticket).where(Ticket.number == number).order_by(TicketEvent.id)
        )
        if kinds:
            query = query.where(TicketEvent.kind.in_(kinds))
        return list(await session.scalars(query))


async def ticket(runtime: Runtime, number: str) -> Ticket:
    async with runtime.db.read() as session:
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert found is not None
    return found


async def delivery(runtime: Runtime, job_key: str) -> Delivery | None:
    async with runtime.db.read() as session:
        return await session.scalar(select(Delivery).where(Delivery.job_key == job_key))


async def set_identity(runtime: Runtime, kind: str, value: str, **changes: Any) -> None:
    async with runtime.db.write() as session, session.begin():
        identity = await session.scalar(
            select(CitizenIdentity).where(
                CitizenIdentity.kind == kind, CitizenIdentity.value == value
            )
        )
        assert identity is not None
        for name, change in changes.items():
            setattr(identity, name, change)


async def staff_member(runtime: Runtime, staff_id: int) -> Staff:
    async with runtime.db.read() as session:
        found = await session.get(Staff, staff_id)
    assert found is not None
    return found


async def closed_and_surveyed(
    runtime: Runtime, http: httpx.AsyncClient, notifier: Notifier, clock: FakeClock
) -> str:
    """An e-mail ticket answered and closed by an agent, its survey sent two hours later."""
    _, agent = await staff(runtime, Role.AGENT)
    number = await new_ticket(runtime, channel="email")
    for action, body in (("accept", {}), ("close", {"text": "已答复：可在网上办理。"})):
        response = await http.post(
            f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=agent
        )
        assert response.status_code == 200, response.text
    await notifier.run_due()
    clock.advance(hours=2)
    await notifier.run_due()
    return number
