"""Who can be reached how: a citizen's channels in order, a staff member's contacts.

A citizen is answered on the channel they used (the identity of that channel), then by SMS
to their phone identity or the ticket's contact phone. Staff say in `Staff.contact` where
they want alerts: `{"email": "...", "sms": "+86...", "prefer": ["sms", "email"]}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.domain.models import Staff
from intake.domain.phones import mask_phone
from notifier.facts import IdentityFacts, TicketFacts

CHANNEL_OF_KIND = {
    IdentityKind.PHONE.value: "sms",
    IdentityKind.EMAIL.value: "email",
    IdentityKind.WECHAT.value: "wechat",
    IdentityKind.TELEGRAM.value: "telegram",
    IdentityKind.WECOM.value: "wecom",  # staff only: set by `intake staff contact`
}
HOTLINE_DEPARTMENT = "hotline"
KIND_OF_CHANNEL = {channel: kind for kind, channel in CHANNEL_OF_KIND.items()}


@dataclass(frozen=True)
class Route:
    channel: str
    recipient: SenderIdentity
    opted_out: bool = False  # no non-essential messages on this identity
    unsubscribed: bool = False  # the channel itself cannot carry anything (WeChat unfollow)

    @property
    def masked(self) -> str:
        value = self.recipient.value
        if self.recipient.kind is IdentityKind.PHONE:
            return mask_phone(value)
        if "@" in value:
            local, _, domain = value.partition("@")
            return f"{local[:2]}***@{domain}"
        return f"{value[:3]}***" if len(value) > 3 else "***"


def _route(identity: IdentityFacts, name: str | None) -> Route:
    kind = IdentityKind(identity.kind)
    return Route(
        channel=CHANNEL_OF_KIND[identity.kind],
        recipient=SenderIdentity(
            kind=kind, value=identity.value, account=identity.account, display_name=name
        ),
        opted_out=identity.opted_out_at is not None,
        unsubscribed=identity.unsubscribed_at is not None,
    )


def citizen_routes(ticket: TicketFacts, identities: list[IdentityFacts]) -> list[Route]:
    """The ticket's own channel first, then SMS; never the same identity twice.

    A ticket from a channel that cannot be answered on itself (a partner's Open311 app, the
    web form) is answered on the contact the citizen gave: the phone, then the e-mail address.
    `identities` are the citizen's, in id order (loaded for a whole batch by the caller).
    """
    usable = [i for i in identities if i.kind in CHANNEL_OF_KIND]
    own_kind = KIND_OF_CHANNEL.get(ticket.channel)
    routes = [_route(i, ticket.contact_name) for i in usable if i.kind == own_kind][:1]
    phones = [i for i in usable if i.kind == IdentityKind.PHONE.value]
    if ticket.contact_phone:
        phones.sort(key=lambda i: i.value != ticket.contact_phone)
    routes += [_route(i, ticket.contact_name) for i in phones[:1]]
    if not phones and ticket.contact_phone:
        routes.append(Route("sms", SenderIdentity(IdentityKind.PHONE, ticket.contact_phone)))
    if own_kind is None:
        mail = [i for i in usable if i.kind == IdentityKind.EMAIL.value][:1]
        routes += [_route(i, ticket.contact_name) for i in mail]
    return list({(r.channel, r.recipient.value): r for r in routes}.values())


def staff_routes(staff: Staff) -> list[Route]:
    contact = staff.contact or {}
    order = contact.get("prefer") or [k for k in contact if k in KIND_OF_CHANNEL]
    routes = []
    for channel in order:
        value = contact.get(channel)
        if channel in KIND_OF_CHANNEL and value:
            kind = IdentityKind(KIND_OF_CHANNEL[channel])
            routes.append(Route(channel, SenderIdentity(kind, str(value), display_name=staff.name)))
    return routes


async def department_staff(session: AsyncSession, department: str | None) -> list[Staff]:
    """Active staff of the department who left a contact (handlers and their supervisors)."""
    if not department:
        return []
    found = await session.scalars(
        select(Staff).where(Staff.department == department, Staff.active.is_(True))
    )
    return [s for s in found if staff_routes(s)]


async def hotline_staff(session: AsyncSession) -> list[Staff]:
    """The hotline's own agents and supervisors (who re-dispatch returned tickets)."""
    found = await session.scalars(
        select(Staff).where(
            Staff.role.in_([Role.AGENT.value, Role.SUPERVISOR.value]),
            Staff.active.is_(True),
            or_(Staff.department.is_(None), Staff.department == HOTLINE_DEPARTMENT),
        )
    )
    return [s for s in found if staff_routes(s)]
