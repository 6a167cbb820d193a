"""The staff action `categorize`: a correction recorded as an event, which teaches the model."""

from __future__ import annotations

from typing import Any

import httpx

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.runtime import Runtime
from intake.triage.learned.corrections import corrected_rows
from intake.triage.workbench import Workbench
from tests.core.helpers import submitted_ticket
from tests.triage.learned_data import small_rows

VAGUE = "我想反映一下这个事情，麻烦你们看一下，谢谢。"
GYM = "小区里的健身器材坏了好几个月了，单杠都断了，一直没有人来修。"


async def _staff(runtime: Runtime, role: Role, department: str | None = None) -> dict[str, str]:
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name=role.value, role=role, department=department, catalog=runtime.catalog
        )
    return {"Authorization": f"Bearer {token}"}


async def _act(
    client: httpx.AsyncClient, number: str, action: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=headers
    )


async def test_categorize_records_an_event_and_the_suggested_department(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    agent = await _staff(runtime, Role.AGENT)
    handler = await _staff(runtime, Role.HANDLER, "water")
    number = (await submitted_ticket(client, runtime, content=GYM)).number
    done = await _act(client, number, "categorize", agent, category="noise", request_type="help")
    assert done.status_code == 200, done.text
    detail = done.json()
    assert detail["category"] == "noise" and detail["request_type"] == "help"
    event = [e for e in detail["events"] if e["kind"] == "categorized"][-1]
    assert event["data"]["suggested_department"] == "environment"
    assert event["data"]["category"] == "noise" and event["actor"] == "staff"
    for body in ({"category": "parking"}, {"request_type": "gossip"}, {}):
        refused = await _act(client, number, "categorize", agent, **body)
        assert refused.status_code == 422, body
    forbidden = await _act(client, number, "categorize", handler, category="water-supply")
    assert forbidden.status_code == 403
    dispatched = await _act(client, number, "dispatch", agent, department="water")
    assert dispatched.json()["department"] == "water"
    moved = await _act(client, number, "categorize", agent, category="culture-tourism")
    assert moved.json()["department"] == "water" and moved.json()["status"] == "dispatched"
    assert moved.json()["events"][-1]["data"]["suggested_department"] == "tourism"


async def test_unsure_category_goes_to_an_agent_with_three_candidates(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ticket = await submitted_ticket(client, runtime, content=VAGUE)
    triaged = next(e for e in ticket.events if e.kind == "triaged").data
    assert triaged["category_source"] == "unsure" and triaged["needs_human"]
    assert triaged["suggested_department"] == "hotline" and triaged["model_version"]
    candidates = triaged["category_candidates"]
    assert len(candidates) == 3 and candidates[0]["words"]
    assert {"label", "probability", "words"} <= set(candidates[0])


async def test_a_correction_changes_the_next_model(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    agent = await _staff(runtime, Role.AGENT)
    number = (await submitted_ticket(client, runtime, content=GYM)).number
    bench = Workbench.open(runtime.settings)
    before = bench.train(small_rows())
    assert before.category_of(GYM) != "housing-fund"
    done = await _act(client, number, "categorize", agent, category="housing-fund")
    assert done.status_code == 200
    corrections = await corrected_rows(runtime.db, bench.codes)
    assert [(r.text, r.category) for r in corrections] == [(GYM, "housing-fund")]
    after = bench.train(small_rows(), corrections)
    assert after.category_of(GYM) == "housing-fund"
    assert bench.store.active() == after.version != before.version
