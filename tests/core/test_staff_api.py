"""Staff API: tokens, scope by department, the closed loop, refusals, domain events."""

from __future__ import annotations

import httpx
import orjson

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body


async def _staff(runtime: Runtime, role: Role, department: str | None = None) -> dict[str, str]:
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session,
            name=f"{role.value}-{department}",
            role=role,
            department=department,
            catalog=runtime.catalog,
        )
    return {"Authorization": f"Bearer {token}"}


async def _ticket(client: httpx.AsyncClient, runtime: Runtime, **body: str) -> str:
    response = await client.post("/api/v1/requests", json=request_body(**body))
    await drain(runtime)
    return str(response.json()["number"])


async def _act(
    client: httpx.AsyncClient, number: str, action: str, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=headers
    )


async def test_token_required(client: httpx.AsyncClient, runtime: Runtime) -> None:
    missing = await client.get("/api/v1/tickets")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    bad = {"Authorization": "Bearer itk_nope"}
    assert (await client.get("/api/v1/tickets", headers=bad)).status_code == 401


async def test_closed_loop_with_events(client: httpx.AsyncClient, runtime: Runtime) -> None:
    agent = await _staff(runtime, Role.AGENT)
    handler = await _staff(runtime, Role.HANDLER, "environment")
    number = await _ticket(client, runtime)
    listed = (await client.get("/api/v1/tickets", headers=agent)).json()
    assert [t["number"] for t in listed] == [number]
    assert listed[0]["contact_phone"] == "+86138****5678"  # masked in lists
    assert (await _act(client, number, "accept", agent)).json()["status"] == "accepted"
    dispatched = await _act(client, number, "dispatch", agent, department="environment")
    assert dispatched.json()["status"] == "dispatched"
    assert (await _act(client, number, "accept", handler)).json()["status"] == "in_progress"
    await _act(client, number, "note", handler, text="已联系店主，约定周三整改")
    replied = await _act(client, number, "reply", handler, text="已责令商户安装油烟净化器。")
    assert replied.json()["status"] == "replied"
    closed = await _act(client, number, "close", agent)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    detail = (await client.get(f"/api/v1/tickets/{number}", headers=agent)).json()
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds == [
        "received",
        "triaged",
        "accepted",
        "dispatched",
        "accepted",
        "note",
        "replied",
        "closed",
    ]
    triaged = detail["events"][1]
    assert triaged["public"] is False and triaged["data"]["category"] == "cooking-fumes"
    assert detail["category"] == "cooking-fumes" and detail["due_at"] is not None
    assert detail["contact_phone"] == "+8613812345678"
    assert "reopen" in detail["actions"]
    public = (
        await client.get(f"/api/v1/requests/{number}", params={"phone": "13812345678"})
    ).json()
    assert "note" not in [i["kind"] for i in public["timeline"]]
    assert "已联系店主" not in str(public)
    assert public["timeline"][-2]["text"] == "已责令商户安装油烟净化器。"
    stream = await runtime.redis.client.xrange(runtime.redis.keys.events)
    published = [(f["kind"], f["ticket"]) for _, f in stream]
    assert published == [(k, number) for k in kinds]
    assert orjson.loads(stream[-2][1]["data"])["text"] == "已责令商户安装油烟净化器。"


async def test_invalid_transition_is_409(client: httpx.AsyncClient, runtime: Runtime) -> None:
    agent = await _staff(runtime, Role.AGENT)
    number = await _ticket(client, runtime)
    refused = await _act(client, number, "close", agent)
    assert refused.status_code == 409
    assert "received" in refused.json()["detail"]
    assert (await _act(client, number, "fly", agent)).status_code == 422
    assert (await _act(client, "2000010100001", "accept", agent)).status_code == 404


async def test_department_scope_and_roles(client: httpx.AsyncClient, runtime: Runtime) -> None:
    agent = await _staff(runtime, Role.AGENT)
    water = await _staff(runtime, Role.HANDLER, "water")
    env = await _staff(runtime, Role.HANDLER, "environment")
    number = await _ticket(client, runtime)
    await _act(client, number, "dispatch", agent, department="environment")
    assert (await client.get("/api/v1/tickets", headers=water)).json() == []
    assert (await client.get(f"/api/v1/tickets/{number}", headers=water)).status_code == 404
    assert (await _act(client, number, "accept", water)).status_code == 404
    assert (await _act(client, number, "dispatch", env, department="water")).status_code == 403
    unknown = await _act(client, number, "dispatch", agent, department="nowhere")
    assert unknown.status_code == 409  # dispatched → dispatched is not a transition
    no_reason = await _act(client, number, "return", env)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    returned = await _act(client, number, "return", env, reason="不属于本单位职责，应由城管处理")
    assert returned.json()["status"] == "returned" and returned.json()["department"] is None
    again = await _act(client, number, "dispatch", agent, department="nowhere")
    assert again.status_code == 422 and again.json()["field"] == "department"
    assert (await _act(client, number, "dispatch", agent, department="urban-management")).json()[
        "department"
    ] == "urban-management"


async def test_extension_needs_a_supervisor(client: httpx.AsyncClient, runtime: Runtime) -> None:
    agent = await _staff(runtime, Role.AGENT)
    handler = await _staff(runtime, Role.HANDLER, "housing")
    boss = await _staff(runtime, Role.SUPERVISOR)
    number = await _ticket(client, runtime)
    await _act(client, number, "dispatch", agent, department="housing")
    asked = await _act(client, number, "extend", handler, days=5, reason="需要协调物业和业委会")
    assert asked.json()["extension_pending"]["days"] == 5
    assert (await _act(client, number, "approve_extension", handler)).status_code == 403
    granted = await _act(client, number, "approve_extension", boss)
    assert granted.status_code == 200 and granted.json()["extension_pending"] is None
    kinds = [e["kind"] for e in granted.json()["events"]]
    assert kinds[-2:] == ["extension_requested", "extension_granted"]


async def test_filters(client: httpx.AsyncClient, runtime: Runtime) -> None:
    agent = await _staff(runtime, Role.AGENT)
    first = await _ticket(
        client,
        runtime,
        request_type="consultation",
        content="请问社保卡的年度缴费基数什么时候调整？",
    )
    await _ticket(client, runtime, request_type="complaint")
    by_type = await client.get("/api/v1/tickets", params={"type": "consultation"}, headers=agent)
    assert [t["number"] for t in by_type.json()] == [first]
    by_text = await client.get("/api/v1/tickets", params={"q": "社保卡"}, headers=agent)
    assert [t["number"] for t in by_text.json()] == [first]
    assert (
        len(
            (
                await client.get("/api/v1/tickets", params={"status": "received"}, headers=agent)
            ).json()
        )
        == 2
    )


async def test_staff_never_see_a_half_made_ticket(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """While the worker writes tickets, every ticket staff can list is complete."""
    import asyncio

    agent = await _staff(runtime, Role.AGENT)
    for i in range(60):  # 60 citizens: one phone would be over its submission limit
        body = request_body(phone=f"1381234{i:04d}", content=f"第{i}号楼的路灯坏了")
        assert (await client.post("/api/v1/requests", json=body)).status_code == 201
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="bg").run(stop))
    seen: set[str] = set()
    try:
        while len(seen) < 60:
            for row in (
                await client.get("/api/v1/tickets", params={"limit": 200}, headers=agent)
            ).json():
                if row["number"] in seen:
                    continue
                detail = (
                    await client.get(f"/api/v1/tickets/{row['number']}", headers=agent)
                ).json()
                assert [e["kind"] for e in detail["events"]][:2] == ["received", "triaged"]
                assert detail["due_at"] and detail["category"]
                seen.add(row["number"])
    finally:
        stop.set()
        await worker
