"""Staff work on tickets, as the staff API does it (for the integration tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.lifecycle import Action
from intake.domain.models import Staff
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform


async def staff_member(
    runtime: Runtime, role: Role, department: str | None = None, name: str | None = None
) -> tuple[Staff, str]:
    async with runtime.db.write() as session, session.begin():
        return await add_staff(
            session,
            name=name or f"{role.value}-{department}",
            role=role,
            department=department,
            catalog=runtime.catalog,
        )


async def act(
    runtime: Runtime,
    staff: Staff,
    number: str,
    action: Action,
    *,
    at: datetime | None = None,
    **fields: Any,
) -> None:
    """One action, committed, its events published on the domain-event stream."""
    async with runtime.db.write() as session, session.begin():
        await perform(
            session,
            number=number,
            request=ActionRequest(action, **fields),
            staff=staff,
            catalog=runtime.catalog,
            clock=(lambda: at) if at else runtime.clock,
        )
    await runtime.relay.drain()
