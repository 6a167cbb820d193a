"""A handler's question stops the clock; a reply, closing, reopening or 结束等待 starts it again
(`waiting_since` cleared, `due_at` moved by the time spent waiting), so the deadline scan sees
the ticket once more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.errors import IntakeError
from intake.domain.lifecycle import Action
from intake.domain.models import Staff, Ticket
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform
from tests.console.conftest import Console
from tests.console.helpers import web_request

MONDAY_10 = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
WEDNESDAY_10 = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # two working days later


async def _do(runtime: Runtime, staff: Staff, number: str, action: Action, at: datetime,
              **fields: object) -> Ticket:
    async with runtime.db.write() as session, session.begin():
        ticket = await perform(
            session, number=number, request=ActionRequest(action, **fields),  # type: ignore[arg-type]
            staff=staff, catalog=runtime.catalog, clock=lambda: at,
        )
        return ticket


async def _staff(runtime: Runtime) -> tuple[Staff, Staff]:
    async with runtime.db.write() as session, session.begin():
        agent, _ = await add_staff(session, name="a", role=Role.AGENT, department=None,
                                   catalog=runtime.catalog)
        handler, _ = await add_staff(session, name="h", role=Role.HANDLER,
                                     department="environment", catalog=runtime.catalog)
    return agent, handler


async def _waiting(runtime: Runtime, number: str) -> tuple[datetime | None, datetime | None]:
    async with runtime.db.read() as session:
        row = (await session.execute(
            select(Ticket.waiting_since, Ticket.due_at).where(Ticket.number == number)
        )).one()
    return row[0], row[1]


@pytest.mark.parametrize("ending", [Action.REPLY, Action.END_WAIT])
async def test_reply_or_end_wait_restarts_the_clock(console: Console, ending: Action) -> None:
    runtime = console.runtime
    agent, handler = await _staff(runtime)
    number = await web_request(console.http, runtime)
    await _do(runtime, agent, number, Action.ACCEPT, MONDAY_10)
    await _do(runtime, agent, number, Action.DISPATCH, MONDAY_10, department="environment")
    await _do(runtime, handler, number, Action.ASK, MONDAY_10, text="门牌号是多少？")
    since, due_before = await _waiting(runtime, number)
    assert since == MONDAY_10 and due_before is not None
    await _do(runtime, handler, number, Action.ASK, WEDNESDAY_10, text="还有联系人吗？")
    assert (await _waiting(runtime, number))[0] == MONDAY_10  # asking again keeps the start
    await _do(runtime, handler, number, ending, WEDNESDAY_10, text="已处理")
    since, due = await _waiting(runtime, number)
    assert since is None
    assert due is not None and due - due_before >= timedelta(days=2)
    with pytest.raises(IntakeError):  # 结束等待 needs a wait (and a status that waits)
        await _do(runtime, handler, number, Action.END_WAIT, WEDNESDAY_10)


async def test_close_and_reopen_clear_the_wait(console: Console) -> None:
    runtime = console.runtime
    agent, _ = await _staff(runtime)
    number = await web_request(console.http, runtime)
    await _do(runtime, agent, number, Action.ACCEPT, MONDAY_10)
    await _do(runtime, agent, number, Action.ASK, MONDAY_10, text="请补充地址")
    await _do(runtime, agent, number, Action.CLOSE, WEDNESDAY_10, text="直接答复：已告知办理渠道")
    assert (await _waiting(runtime, number))[0] is None
    async with runtime.db.write() as session, session.begin():  # a wait left by older code
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        ticket.waiting_since = MONDAY_10
    await _do(runtime, agent, number, Action.REOPEN, WEDNESDAY_10)
    assert (await _waiting(runtime, number))[0] is None
