"""The contact phone a citizen gave before, so that a guided request need not ask for it again."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from intake.domain.models import CitizenIdentity, Ticket
from intake.storage.database import Database

# built once: statements made per call would defeat SQLAlchemy's statement cache (milliseconds)
_PHONE_OF = (
    select(Ticket.contact_phone)
    .join(CitizenIdentity, CitizenIdentity.citizen_id == Ticket.citizen_id)
    .where(Ticket.contact_phone.is_not(None))
    .where(
        CitizenIdentity.kind == bindparam("kind"),
        CitizenIdentity.account == bindparam("account"),
        CitizenIdentity.value == bindparam("value"),
    )
    .order_by(Ticket.id.desc())
    .limit(1)
)


async def phone_on_file(db: Database, kind: str, account: str, value: str) -> str | None:
    """The contact phone this identity's citizen gave on their latest ticket, if any (a phone
    typed in a chat is never vouched for, so it is found on tickets, not as an identity)."""
    async with db.read() as session:
        return await session.scalar(_PHONE_OF, {"kind": kind, "account": account, "value": value})
