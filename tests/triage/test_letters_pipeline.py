"""Real-length letters through the pipeline: what triage is unsure of stays with an agent.

A long letter is not closed by the bot: the knowledge-base answers it matches are recorded on
the `triaged` event, the staff API's ticket detail shows them, and an agent sends one with the
existing `reply` action. A possible 不予受理 is recorded the same way and not acted on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.models import Ticket
from intake.runtime import Runtime
from tests.core.helpers import submitted_ticket

LETTERS_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "triage" / "real_letters.yaml"
LETTERS = {
    letter["id"]: letter["text"]
    for letter in yaml.safe_load(LETTERS_FILE.read_text(encoding="utf-8"))["letters"]
}
WAITING_FOR_ARBITRATION = (
    "您好，我在东湖区一家餐馆打工，老板拖欠了我三个月工资一万二千元。"
    "我找过劳动监察大队，他们让我去申请仲裁，仲裁委受理以后一直没有开庭。"
    "我家里老人生病住院，急需这笔钱，房租也拖了两个月。"
    "请问像我这种情况，除了等仲裁委开庭，还有没有别的办法能尽快拿到工资？"
    "希望你们帮忙协调一下劳动部门，督促老板先把工资发了，谢谢。"
)


def _triaged(ticket: Ticket) -> dict[str, Any]:
    return dict(next(e for e in ticket.events if e.kind == "triaged").data)


async def _agent(runtime: Runtime) -> dict[str, str]:
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name="agent", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
    return {"Authorization": f"Bearer {token}"}


async def test_long_letter_stays_open_with_suggested_answers_an_agent_sends(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    text = LETTERS["housing-fund-letter-suggests-only"]
    ticket = await submitted_ticket(client, runtime, request_type="consultation", content=text)
    assert ticket.status == "received" and ticket.closed_at is None
    suggested = _triaged(ticket)["suggested_answers"]
    assert suggested[0]["entry_id"] == "hf-withdraw-rent" and suggested[0]["answer"]
    agent = await _agent(runtime)
    url = f"/api/v1/tickets/{ticket.number}"
    detail = (await client.get(url, headers=agent)).json()
    shown = next(e for e in detail["events"] if e["kind"] == "triaged")["data"]
    assert shown["suggested_answers"] == suggested
    accepted = await client.post(f"{url}/actions/accept", json={}, headers=agent)
    assert accepted.status_code == 200, accepted.text
    replied = await client.post(
        f"{url}/actions/reply", json={"text": suggested[0]["answer"]}, headers=agent
    )
    assert replied.status_code == 200, replied.text
    public = await client.get(
        f"/api/v1/requests/{ticket.number}", params={"code": ticket.query_code}
    )
    assert any(item.get("text") == suggested[0]["answer"] for item in public.json()["timeline"])


async def test_short_question_is_still_answered_and_closed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await submitted_ticket(
        client, runtime, request_type="consultation", content="我的社保卡丢了，请问怎么补办？"
    )
    assert ticket.status == "closed" and ticket.events[-1].data["kb_entry"] == "sscard-replace"


async def test_court_case_letter_is_declined_and_passing_mention_is_not(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    court = await submitted_ticket(client, runtime, content=LETTERS["court-case-letter"])
    assert court.status == "closed" and court.category == "out-of-scope"
    assert court.events[-1].data["out_of_scope"] == "litigation"
    passing = await submitted_ticket(
        client, runtime, content=LETTERS["petition-and-lawsuit-refused"]
    )
    assert passing.status == "received" and passing.category != "out-of-scope"
    assert _triaged(passing)["out_of_scope_suggestion"] is None


async def test_unsure_out_of_scope_is_recorded_for_the_agent_not_acted_on(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await submitted_ticket(client, runtime, content=WAITING_FOR_ARBITRATION)
    assert ticket.status == "received" and ticket.category != "out-of-scope"
    suggestion = _triaged(ticket)["out_of_scope_suggestion"]
    assert suggestion["rule_id"] == "arbitration" and "仲裁" in suggestion["reply"]
    assert not any(e.kind == "closed" for e in ticket.events)
