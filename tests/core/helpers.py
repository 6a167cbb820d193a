"""Small helpers shared by the core tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.lifecycle import Action
from intake.domain.models import Ticket
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform


def request_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "phone": "13812345678",
        "name": "张三",
        "request_type": "complaint",
        "content": "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。",
        "address": "幸福路12号",
    }
    body.update(overrides)
    return body


async def drain(runtime: Runtime) -> None:
    await runtime.pipeline_worker(consumer="test").drain(limit_s=30)


async def ticket_count(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def accept_and_close(
    runtime: Runtime,
    number: str,
    *,
    reply: str = "已通知路灯所当日修复。",
    clock: Callable[[], datetime] | None = None,
) -> None:
    """An agent accepts the ticket and closes it with `reply`, as the staff API would."""
    async with runtime.db.write() as session, session.begin():
        agent, _ = await add_staff(
            session, name="李娜", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
        for action, text in ((Action.ACCEPT, None), (Action.CLOSE, reply)):
            await perform(
                session,
                number=number,
                request=ActionRequest(action, text=text),
                staff=agent,
                catalog=runtime.catalog,
                clock=clock or runtime.clock,
            )


async def submitted_ticket(client: httpx.AsyncClient, runtime: Runtime, **body: Any) -> Ticket:
    """A web request, the pipeline drained, and its ticket with its events."""
    response = await client.post("/api/v1/requests", json=request_body(**body))
    assert response.status_code == 201, response.text
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.number == response.json()["number"])
            .options(selectinload(Ticket.events))
        )
    assert ticket is not None
    return ticket
