"""The web channel end to end: submit, see it become a ticket, look it up as the citizen."""

from __future__ import annotations

import asyncio
import io
import re

import httpx
from sqlalchemy import select

from intake.domain.clock import intake_day
from intake.domain.models import Ticket
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body, ticket_count

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def test_submit_becomes_a_ticket(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await client.post("/api/v1/requests", json=request_body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert re.fullmatch(rf"{intake_day(runtime.clock())}\d{{5}}", body["number"])
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{8}", body["query_code"])
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == body["number"]))
    assert ticket is not None
    assert ticket.contact_phone == "+8613812345678"
    assert ticket.request_type == "complaint"
    assert ticket.address == "幸福路12号"
    assert ticket.status == "received"
    assert ticket.query_code == body["query_code"]


async def test_lookup_by_phone_or_code_and_same_404(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    number = (await client.post("/api/v1/requests", json=request_body())).json()
    await drain(runtime)
    by_phone = await client.get(
        f"/api/v1/requests/{number['number']}", params={"phone": "+86 138 1234 5678"}
    )
    assert by_phone.status_code == 200
    assert by_phone.json()["status_label"] == "待受理"
    assert [i["kind"] for i in by_phone.json()["timeline"]] == ["received"]
    by_code = await client.get(
        f"/api/v1/requests/{number['number']}", params={"code": number["query_code"].lower()}
    )
    assert by_code.status_code == 200
    wrong_phone = await client.get(
        f"/api/v1/requests/{number['number']}", params={"phone": "13900000000"}
    )
    wrong_number = await client.get(
        "/api/v1/requests/2000010100001", params={"phone": "13812345678"}
    )
    assert wrong_phone.status_code == wrong_number.status_code == 404
    assert wrong_phone.json() == wrong_number.json()


async def test_lookup_before_the_worker_has_run(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = (await client.post("/api/v1/requests", json=request_body())).json()
    assert await ticket_count(runtime) == 0
    found = await client.get(
        f"/api/v1/requests/{body['number']}", params={"code": body["query_code"]}
    )
    assert found.status_code == 200
    assert found.json()["status"] == "received"
    refused = await client.get(f"/api/v1/requests/{body['number']}", params={"code": "WRONG234"})
    assert refused.status_code == 404


async def test_invalid_input_names_the_field(client: httpx.AsyncClient) -> None:
    bad_phone = await client.post("/api/v1/requests", json=request_body(phone="12345"))
    assert bad_phone.status_code == 422
    assert bad_phone.json()["detail"][0]["field"] == "phone"
    landline = await client.post("/api/v1/requests", json=request_body(phone="01065550000"))
    assert landline.status_code == 422
    no_content = await client.post("/api/v1/requests", json=request_body(content=""))
    detail = no_content.json()["detail"]
    assert no_content.status_code == 422
    assert detail[0]["field"] == "content" and "5" in detail[0]["message"]
    bad_type = await client.post("/api/v1/requests", json=request_body(request_type="x"))
    assert bad_type.json()["detail"][0]["field"] == "request_type"
    not_json = await client.post(
        "/api/v1/requests", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422


async def test_html_form_errors_in_chinese_and_confirmation(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "诉求内容" in page.text and 'lang="zh-CN"' in page.text
    html = {"accept": "text/html"}
    form = request_body(phone="123")
    invalid = await client.post("/api/v1/requests", data=form, headers=html)
    assert invalid.status_code == 422
    assert "不是有效的电话号码" in invalid.text and "幸福路12号" in invalid.text
    ok = await client.post(
        "/api/v1/requests",
        data=request_body(),
        headers=html,
        files=[("attachments", ("photo.png", io.BytesIO(PNG), "image/png"))],
    )
    assert ok.status_code == 201
    assert "您的诉求已提交" in ok.text
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket))
    assert ticket is not None and ticket.number in ok.text and ticket.query_code in ok.text


async def test_attachments_checked_by_content(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fake = ("photo.png", io.BytesIO(b"MZ\x90\x00 not an image" * 10), "image/png")
    refused = await client.post(
        "/api/v1/requests", data=request_body(), files=[("attachments", fake)]
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "attachments"
    too_many = [("attachments", (f"p{i}.png", io.BytesIO(PNG), "image/png")) for i in range(6)]
    assert (
        await client.post("/api/v1/requests", data=request_body(), files=too_many)
    ).status_code == 422
    big = PNG + b"\x00" * (10 * 1024 * 1024)
    assert (
        await client.post(
            "/api/v1/requests",
            data=request_body(),
            files=[("attachments", ("big.png", io.BytesIO(big), "image/png"))],
        )
    ).status_code == 422
    pdf = ("scan.pdf", io.BytesIO(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"), "x/y")
    ok = await client.post(
        "/api/v1/requests",
        data=request_body(),
        files=[("attachments", pdf), ("attachments", ("a.png", PNG))],
    )
    assert ok.status_code == 201
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
        await session.refresh(ticket, ["attachments"])
        kinds = sorted(a.content_type for a in ticket.attachments)
    assert kinds == ["application/pdf", "image/png"]
    stored = runtime.attachments.path_of(ticket.attachments[0].storage_key or "")
    assert stored.exists()


async def test_fifty_concurrent_retries_make_one_ticket(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = {"Idempotency-Key": "retry-storm-1"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/requests", json=request_body(), headers=headers) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {201}
    numbers = {r.json()["number"] for r in responses}
    codes = {r.json()["query_code"] for r in responses}
    assert len(numbers) == 1 and len(codes) == 1
    assert sum(1 for r in responses if not r.json()["duplicate"]) == 1
    await drain(runtime)
    assert await ticket_count(runtime) == 1


async def test_same_key_other_request_is_a_conflict(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/requests", json=request_body(), headers=headers)
    other = await client.post(
        "/api/v1/requests", json=request_body(content="另一件事情需要反映一下"), headers=headers
    )
    assert first.status_code == 201 and other.status_code == 409


async def test_health_and_docs(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}  # liveness; /readyz checks the dependencies
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/requests" in spec["paths"] and "/api/v1/tickets/{number}" in spec["paths"]
