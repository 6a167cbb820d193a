"""Phone calls (来电录入): `POST /api/v1/tickets` for a call-centre system and the console's
form and fragments, both through the same intake path as every channel."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Message, Ticket
from tests.console.conftest import Console
from tests.console.helpers import csrf_of, make_staff, sign_in, web_request
from tests.core.helpers import drain, ticket_count

CALLER = "13812345678"
E164 = "+8613812345678"
COMPLAINT = "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"
KB_QUESTION = "我的社保卡不小心弄丢了，要怎么补办？"


def call(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": uuid.uuid4().hex,
        "phone": CALLER,
        "request_type": "complaint",
        "content": COMPLAINT,
        "address": "幸福路12号",
        "name": "张三",
    }
    body.update(overrides)
    return body


async def _post(http: httpx.AsyncClient, token: str, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return await http.post("/api/v1/tickets", json=body, headers=headers)


async def _ticket(console: Console, number: str) -> Ticket:
    async with console.runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == number).options(selectinload(Ticket.events))
        )
    assert ticket is not None, number
    return ticket


async def test_a_call_becomes_a_phone_ticket_once_however_often_it_is_posted(
    console: Console,
) -> None:
    token = await make_staff(console.runtime, "agent", Role.AGENT)
    body = call()
    first = await _post(console.http, token, body)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["number"] and len(answer["query_code"]) == 8
    assert answer["duplicate"] is False and answer["follow_up"] is False
    retried = await _post(console.http, token, body)
    assert retried.status_code == 201
    assert retried.json()["number"] == answer["number"]
    assert retried.json()["query_code"] == answer["query_code"]
    assert retried.json()["duplicate"] is True
    assert retried.headers["Idempotent-Replayed"] == "true"
    await drain(console.runtime)
    assert await ticket_count(console.runtime) == 1
    ticket = await _ticket(console, answer["number"])
    assert ticket.channel == "phone" and ticket.contact_phone == E164
    assert ticket.contact_name == "张三" and ticket.address == "幸福路12号"
    assert ticket.status == "received" and ticket.request_type == "complaint"
    assert ticket.due_at is not None and ticket.category  # triaged, with deadlines
    kinds = [e.kind for e in ticket.events]
    assert kinds[:2] == ["received", "triaged"]  # the notifier acknowledges `received`


async def test_without_a_type_triage_chooses_it(console: Console) -> None:
    token = await make_staff(console.runtime, "agent", Role.AGENT)
    body = call(content="投诉楼下烧烤店每天深夜油烟很大，严重影响居民休息，要求查处")
    del body["request_type"]
    filed = await _post(console.http, token, body)
    await drain(console.runtime)
    assert (await _ticket(console, filed.json()["number"])).request_type == "complaint"


async def test_the_same_call_id_with_other_content_is_refused(console: Console) -> None:
    token = await make_staff(console.runtime, "agent", Role.AGENT)
    body = call()
    assert (await _post(console.http, token, body)).status_code == 201
    changed = await _post(console.http, token, {**body, "content": "另一件事：小区路灯不亮了"})
    assert changed.status_code == 409
    assert "call_id" in changed.json()["detail"]


async def test_only_hotline_tokens_may_file(console: Console) -> None:
    runtime = console.runtime
    handler = await make_staff(runtime, "env", Role.HANDLER, "environment")
    supervisor = await make_staff(runtime, "boss", Role.SUPERVISOR)
    missing = await console.http.post("/api/v1/tickets", json=call())
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert (await _post(console.http, "not-a-token", call())).status_code == 401
    refused = await _post(console.http, handler, call())
    assert refused.status_code == 403
    assert (await _post(console.http, supervisor, call())).status_code == 201
    await drain(runtime)
    assert await ticket_count(runtime) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": None}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"content": "太短"}, "content"),
        ({"call_id": None}, "call_id"),
        ({"request_type": "gossip"}, "request_type"),
        ({"link_to": "not-a-number"}, "link_to"),
        ({"link_to": "2026112100001", "answer": "请到社保中心补办。"}, "body"),
        ({"address": "路" * 301}, "address"),
    ],
)
async def test_bad_calls_are_refused_with_reasons(
    console: Console, change: dict[str, Any], field: str
) -> None:
    token = await make_staff(console.runtime, "agent", Role.AGENT)
    body = {k: v for k, v in {**call(), **change}.items() if v is not None}
    refused = await _post(console.http, token, body)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert [d["field"] for d in detail] == [field] and detail[0]["message"]
    assert (await _post(console.http, token, ["not", "an", "object"])).status_code == 422
    await drain(console.runtime)
    assert await ticket_count(console.runtime) == 0


async def test_a_repeat_caller_is_linked_to_their_ticket(console: Console) -> None:
    runtime = console.runtime
    token = await make_staff(runtime, "agent", Role.AGENT)
    earlier = await web_request(console.http, runtime)  # typed on the web form: same number
    other = await web_request(console.http, runtime, phone="13900001111")
    linked = await _post(console.http, token, call(link_to=earlier, content="烧烤店今晚又开始了"))
    assert linked.status_code == 201, linked.text
    assert linked.json()["number"] == earlier and linked.json()["follow_up"] is True
    await drain(runtime)
    assert await ticket_count(runtime) == 2
    ticket = await _ticket(console, earlier)
    follow = [e for e in ticket.events if e.kind == "follow_up"]
    assert [e.text for e in follow] == ["烧烤店今晚又开始了"]
    refused = await _post(console.http, token, call(link_to=other))
    assert refused.status_code == 422 and refused.json()["field"] == "link_to"


async def test_a_ticket_giving_the_callers_number_as_contact_takes_the_call(
    console: Console,
) -> None:
    """A number typed into WeChat joins nobody; the call from that number vouches for it."""
    runtime = console.runtime
    token = await make_staff(runtime, "agent", Role.AGENT)
    typed = InboundMessage(
        channel="wechat",
        external_id="wx-1",
        sender=SenderIdentity(IdentityKind.WECHAT, "openid-1", account="gh_city"),
        kind=MessageKind.TEXT,
        received_at=runtime.clock(),
        text="人民路的路灯坏了一个星期，晚上很黑",
        fields={"contact_phone": E164},
    )
    receipt = await runtime.gateway.submit(typed, open_ticket=True)
    await drain(runtime)
    assert receipt.number is not None
    linked = await _post(console.http, token, call(link_to=receipt.number, content="路灯还是不亮"))
    assert linked.status_code == 201, linked.text
    await drain(runtime)
    ticket = await _ticket(console, receipt.number)
    assert [e.text for e in ticket.events if e.kind == "follow_up"] == ["路灯还是不亮"]
    assert await ticket_count(runtime) == 1


async def test_a_direct_answer_closes_the_call_as_direct_answer(console: Console) -> None:
    runtime = console.runtime
    token = await make_staff(runtime, "agent", Role.AGENT)
    answered = await _post(
        console.http,
        token,
        call(
            request_type="consultation",
            content=KB_QUESTION,
            answer="请携带身份证到任一社保服务网点补办。",
            kb_entry="sscard-replace",
        ),
    )
    assert answered.status_code == 201 and answered.json()["direct_answer"] is True
    await drain(runtime)
    ticket = await _ticket(console, answered.json()["number"])
    assert ticket.status == "closed" and ticket.closed_at is not None
    closed = [e for e in ticket.events if e.kind == "closed"]
    assert len(closed) == 1
    assert closed[0].text == "请携带身份证到任一社保服务网点补办。"
    assert closed[0].actor_kind == "staff" and closed[0].actor_name == "agent"
    assert closed[0].data["resolution"] == "direct_answer"
    assert closed[0].data["direct_answer"] is True
    assert closed[0].data["kb_entry"] == "sscard-replace"


async def test_a_filed_call_is_never_closed_by_triage_alone(console: Console) -> None:
    """The agent chose to file it although the knowledge base knows the answer."""
    runtime = console.runtime
    token = await make_staff(runtime, "agent", Role.AGENT)
    filed = await _post(console.http, token, call(request_type="consultation", content=KB_QUESTION))
    await drain(runtime)
    ticket = await _ticket(console, filed.json()["number"])
    assert ticket.status == "received"
    triaged = next(e for e in ticket.events if e.kind == "triaged")
    assert triaged.data["immediate_reply"]  # triage would have answered a web request


async def test_the_callers_number_is_masked_in_logs(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    token = await make_staff(console.runtime, "agent", Role.AGENT)
    caplog.set_level(logging.INFO)  # the service's own messages, down to debug
    caplog.set_level(logging.DEBUG, logger="intake")
    assert (await _post(console.http, token, call())).status_code == 201
    assert (await _post(console.http, token, call(phone="1381234"))).status_code == 422
    await drain(console.runtime)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "call filed" in logged and "+86138****5678" in logged
    assert "12345678" not in logged.replace("+86138****5678", "")


@pytest.fixture
async def agent_browser(console: Console) -> httpx.AsyncClient:
    await make_staff(console.runtime, "xiaoli", Role.AGENT)
    assert (await sign_in(console.http, "xiaoli")).status_code == 303
    return console.http


async def test_the_console_shows_the_callers_tickets_and_files_the_call(
    console: Console, agent_browser: httpx.AsyncClient
) -> None:
    runtime = console.runtime
    http = agent_browser
    earlier = await web_request(http, runtime)
    page = await http.get("/console/calls/new")
    assert page.status_code == 200 and "来电号码" in page.text and "直接答复" in page.text
    token = csrf_of(page.text)
    forged = await http.post("/console/calls/caller", data={"phone": CALLER, "csrf": "x"})
    assert forged.status_code == 403
    shown = await http.post("/console/calls/caller", data={"phone": CALLER, "csrf": token})
    assert shown.status_code == 200 and earlier in shown.text and "关联到" in shown.text
    nobody = await http.post("/console/calls/caller", data={"phone": "13900001111", "csrf": token})
    assert earlier not in nobody.text
    hints = await http.post(
        "/console/calls/suggest",
        data={"content": KB_QUESTION, "request_type": "consultation", "csrf": token},
    )
    assert "知识库答复" in hints.text and "采用此答复" in hints.text
    form = {"phone": CALLER, "request_type": "complaint", "content": COMPLAINT, "csrf": token}
    missing_answer = await http.post(
        "/console/calls", data={**form, "call_id": "c1", "decision": "answer"}
    )
    assert missing_answer.status_code == 422 and "答复内容" in missing_answer.text
    filed = await http.post("/console/calls", data={**form, "call_id": "c2", "decision": "file"})
    assert filed.status_code == 201 and "查询码" in filed.text
    again = await http.post("/console/calls", data={**form, "call_id": "c2", "decision": "file"})
    assert "未重复立单" in again.text
    await drain(runtime)
    async with runtime.db.read() as session:
        phones = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.channel == "phone")
        )
        messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.channel == "phone")
        )
    assert phones == 1 and messages == 1


async def test_the_call_page_is_for_the_hotline_only(console: Console) -> None:
    await make_staff(console.runtime, "env", Role.HANDLER, "environment")
    assert (await sign_in(console.http, "env")).status_code == 303
    assert (await console.http.get("/console/calls/new")).status_code == 403
    inbox = await console.http.get("/console/inbox")
    assert "来电录入" not in inbox.text


async def test_the_call_api_is_documented(console: Console) -> None:
    schema = (await console.http.get("/openapi.json")).json()
    posted = schema["paths"]["/api/v1/tickets"]["post"]
    body = posted["requestBody"]["content"]["application/json"]["schema"]
    assert {"call_id", "phone", "content"} <= set(body["required"])
    assert {"201", "401", "403", "409", "422"} <= set(posted["responses"])
