"""待人工分类 lists the received tickets whose triage asked for a person (`needs_human` on the
`triaged` event) until someone classifies them, whatever their category is called; the menu's
count agrees with the list."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from intake.console.inbox import BOXES, Filters, counts, page
from intake.directory.accounts import add_staff
from intake.domain.enums import EventKind, Role
from intake.domain.lifecycle import Action
from intake.domain.models import Staff, Ticket, TicketEvent
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform
from tests.console.conftest import Console
from tests.console.helpers import make_staff, sign_in, web_request

VAGUE = "我想反映一下这个事情，麻烦你们看一下，谢谢。"
NOISE = "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"


async def _flags(runtime: Runtime) -> dict[str, bool]:
    """Each ticket's flag, checked against what its `triaged` event recorded."""
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(Ticket.number, Ticket.needs_human, TicketEvent.data)
            .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
            .where(TicketEvent.kind == EventKind.TRIAGED.value)
        )
    flags = {}
    for number, flag, data in rows:
        assert flag == bool(data.get("needs_human")), number
        flags[number] = flag
    return flags


async def _unsure(runtime: Runtime, agent: Staff) -> tuple[list[str], int]:
    async with runtime.db.read() as session:
        now = runtime.clock()
        rows = await page(session, staff=agent, box=BOXES["unsure"], filters=Filters(), now=now)
        counted = await counts(session, staff=agent, now=now)
    return [row.number for row in rows], counted["unsure"]


async def test_the_unsure_box_follows_the_needs_human_flag(console: Console) -> None:
    runtime = console.runtime
    vague = await web_request(console.http, runtime, content=VAGUE)
    clear = await web_request(console.http, runtime, phone="13900001111", content=NOISE)
    flags = await _flags(runtime)
    assert flags == {vague: True, clear: False}, flags
    async with runtime.db.write() as session, session.begin():
        agent, _ = await add_staff(
            session, name="a", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
        # the category's name is not the flag: a confident ticket filed under the fallback
        # stays out, an unsure one under a real category stays in
        await session.execute(update(Ticket).where(Ticket.number == clear).values(category="other"))
        await session.execute(update(Ticket).where(Ticket.number == vague).values(category="noise"))
    assert await _unsure(runtime, agent) == ([vague], 1)

    await make_staff(runtime, "agent", Role.AGENT)
    assert (await sign_in(console.http, "agent")).status_code == 303
    inbox = await console.http.get("/console/inbox", params={"box": "unsure"})
    assert inbox.status_code == 200
    assert re.search(r'data-box="unsure">1<', inbox.text)
    assert vague in inbox.text and clear not in inbox.text

    async with runtime.db.write() as session, session.begin():  # an agent classifies it
        await perform(
            session,
            number=vague,
            request=ActionRequest(Action.CATEGORIZE, request_type="complaint"),
            staff=agent,
            catalog=runtime.catalog,
            clock=runtime.clock,
        )
    assert await _unsure(runtime, agent) == ([], 0)
    async with runtime.db.read() as session:
        assert not await session.scalar(select(Ticket.needs_human).where(Ticket.number == vague))
