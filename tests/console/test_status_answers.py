"""The citizen's side on the status page: the reply to staff's question and the rating, both
authorised only by the lookup's proof (number and query code) and under the lookup's limits."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from intake.directory.accounts import add_staff
from intake.domain.enums import EventKind, Role
from intake.domain.lifecycle import Action
from intake.domain.models import Staff, Ticket, TicketEvent
from intake.runtime import Runtime
from intake.tickets.actions import ActionRequest, perform
from tests.console.conftest import Console
from tests.core.helpers import drain, request_body

PROOF = re.compile(r'name="proof" value="([^"]+)"')
TOKEN = re.compile(r'name="client_token" value="([^"]+)"')


async def _submitted(console: Console) -> tuple[str, str]:
    created = (await console.http.post("/api/v1/requests", json=request_body())).json()
    await drain(console.runtime)
    return str(created["number"]), str(created["query_code"])


async def _staff(runtime: Runtime) -> tuple[Staff, Staff]:
    async with runtime.db.write() as session, session.begin():
        agent, _ = await add_staff(
            session, name="a", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
        handler, _ = await add_staff(
            session, name="h", role=Role.HANDLER, department="environment", catalog=runtime.catalog
        )
    return agent, handler


async def _do(runtime: Runtime, staff: Staff, number: str, action: Action, **fields: Any) -> None:
    async with runtime.db.write() as session, session.begin():
        await perform(
            session,
            number=number,
            request=ActionRequest(action, **fields),
            staff=staff,
            catalog=runtime.catalog,
            clock=runtime.clock,
        )


async def _ticket(runtime: Runtime, number: str) -> Ticket:
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None
    return ticket


async def _kinds(runtime: Runtime, number: str) -> list[str]:
    async with runtime.db.read() as session:
        found = await session.scalars(
            select(TicketEvent.kind)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == number)
            .order_by(TicketEvent.id)
        )
    return list(found)


async def _looked_up(http: httpx.AsyncClient, number: str, code: str) -> httpx.Response:
    page = await http.post("/status", data={"number": number, "code": code})
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    return page


def _proof(page: httpx.Response) -> str:
    found = PROOF.search(page.text)
    assert found, "no proof on the page"
    return found.group(1)


async def test_the_reply_box_ends_the_wait_as_a_follow_up(console: Console) -> None:
    runtime, http = console.runtime, console.http
    agent, handler = await _staff(runtime)
    number, code = await _submitted(console)
    before = await _looked_up(http, number, code)
    assert 'action="/status/reply"' not in before.text  # nobody asked anything yet
    assert 'href="/"' in before.text  # the way back to the form
    await _do(runtime, agent, number, Action.ACCEPT)
    await _do(runtime, agent, number, Action.DISPATCH, department="environment")
    await _do(runtime, handler, number, Action.ASK, text="请提供烧烤店的门牌号")
    due_before = (await _ticket(runtime, number)).due_at

    page = await _looked_up(http, number, code)
    assert "请提供烧烤店的门牌号" in page.text and 'action="/status/reply"' in page.text
    proof, token = _proof(page), TOKEN.search(page.text)
    assert token is not None
    empty = await http.post("/status/reply", data={"proof": proof, "answer": "  "})
    assert empty.status_code == 422 and "请填写" in empty.text
    long = await http.post("/status/reply", data={"proof": proof, "answer": "长" * 2001})
    assert long.status_code == 422 and "太长" in long.text
    forged = await http.post("/status/reply", data={"proof": proof[:-2] + "xx", "answer": "12号"})
    assert forged.status_code == 400 and number not in forged.text
    missing = await http.post("/status/reply", data={"answer": "12号"})
    assert missing.status_code == 400
    assert (await _ticket(runtime, number)).waiting_since is not None

    form = {"proof": proof, "client_token": token.group(1), "answer": "门牌号是幸福路12号"}
    answered = await http.post("/status/reply", data=form)
    assert answered.status_code == 200 and "已收到您的补充信息" in answered.text
    assert (await http.post("/status/reply", data=form)).status_code == 200  # a double click
    await drain(runtime)
    ticket = await _ticket(runtime, number)
    assert ticket.waiting_since is None
    assert ticket.due_at is not None and due_before is not None and ticket.due_at >= due_before
    kinds = await _kinds(runtime, number)
    assert kinds.count(EventKind.FOLLOW_UP.value) == 1  # the double click is one message
    assert kinds.count(EventKind.INFO_RECEIVED.value) == 1
    again = await http.post("/status/reply", data=form)
    assert again.status_code == 409  # nothing is asked any more


async def test_rating_unsatisfied_reopens_under_supervision(console: Console) -> None:
    runtime, http = console.runtime, console.http
    agent, _ = await _staff(runtime)
    number, code = await _submitted(console)
    assert 'action="/status/rate"' not in (await _looked_up(http, number, code)).text
    await _do(runtime, agent, number, Action.ACCEPT)
    await _do(runtime, agent, number, Action.CLOSE, text="已告知办理渠道")
    page = await _looked_up(http, number, code)
    assert 'action="/status/rate"' in page.text and "不满意" in page.text
    proof = _proof(page)
    wrong = await http.post("/status/rate", data={"proof": proof, "rating": "great"})
    assert wrong.status_code == 422 and "请选择" in wrong.text
    rated = await http.post("/status/rate", data={"proof": proof, "rating": "unsatisfied"})
    assert rated.status_code == 200 and "重新办理并纳入督办" in rated.text
    ticket = await _ticket(runtime, number)
    assert ticket.status == "reopened" and ticket.supervision
    kinds = await _kinds(runtime, number)
    assert EventKind.RATED.value in kinds and EventKind.REOPENED.value in kinds
    twice = await http.post("/status/rate", data={"proof": proof, "rating": "satisfied"})
    assert twice.status_code == 409  # reopened: nothing to rate until it is closed again
    assert (await _kinds(runtime, number)).count(EventKind.RATED.value) == 1


async def test_satisfied_is_recorded_once(console: Console) -> None:
    runtime, http = console.runtime, console.http
    agent, _ = await _staff(runtime)
    number, code = await _submitted(console)
    await _do(runtime, agent, number, Action.ACCEPT)
    await _do(runtime, agent, number, Action.CLOSE, text="已告知办理渠道")
    proof = _proof(await _looked_up(http, number, code))
    rated = await http.post("/status/rate", data={"proof": proof, "rating": "satisfied"})
    assert rated.status_code == 200 and "感谢您的评价（满意）" in rated.text
    assert 'action="/status/rate"' not in rated.text and "您的评价" in rated.text
    late = await http.post("/status/rate", data={"proof": proof, "rating": "unsatisfied"})
    assert "已评价" in late.text
    assert (await _ticket(runtime, number)).status == "closed"


async def test_replies_count_as_lookups(console: Console) -> None:
    """Each reply runs the lookup again under its per-address limit."""
    runtime, http = console.runtime, console.http
    agent, _ = await _staff(runtime)
    number, code = await _submitted(console)
    await _do(runtime, agent, number, Action.ACCEPT)
    await _do(runtime, agent, number, Action.ASK, text="请补充地址")
    proof = _proof(await _looked_up(http, number, code))
    answers = [
        (await http.post("/status/reply", data={"proof": proof, "answer": ""})).status_code
        for _ in range(31)
    ]
    assert answers[0] == 422 and answers[-1] == 429
    refused = await http.post("/status/reply", data={"proof": proof, "answer": "幸福路12号"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert (await _ticket(runtime, number)).waiting_since is not None
