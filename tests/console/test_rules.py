"""The console applies the staff API's rules: CSRF on every form, role scoping, anonymous
contacts hidden from handlers, audited reveals, and files only for those who see the ticket."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from intake.domain.enums import Role
from intake.domain.models import AttachmentRecord, Staff, Ticket
from intake.privacy.audit import AuditEntry
from tests.console.conftest import Console
from tests.console.helpers import act, csrf_of, make_staff, sign_in, web_request

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
async def people(console: Console) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Signed-in browsers (one cookie jar each) of an agent, two handlers and a supervisor."""
    clients: dict[str, httpx.AsyncClient] = {}
    for name, role, department in (
        ("agent", Role.AGENT, None),
        ("env", Role.HANDLER, "environment"),
        ("market", Role.HANDLER, "market"),
        ("boss", Role.SUPERVISOR, None),
    ):
        await make_staff(console.runtime, name, role, department)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=console.app), base_url="http://testserver"
        )
        assert (await sign_in(http, name)).status_code == 303
        clients[name] = http
    yield clients
    for http in clients.values():
        await http.aclose()


async def test_actions_need_the_forms_csrf_token(
    console: Console, people: dict[str, httpx.AsyncClient]
) -> None:
    number = await web_request(console.http, console.runtime)
    agent = people["agent"]
    refused = await agent.post(
        f"/console/tickets/{number}/act", data={"action": "accept", "csrf": "not-the-token"}
    )
    assert refused.status_code == 403
    missing = await agent.post(f"/console/tickets/{number}/act", data={"action": "accept"})
    assert missing.status_code == 403
    async with console.runtime.db.read() as session:
        status = await session.scalar(select(Ticket.status).where(Ticket.number == number))
    assert status == "received"
    done = await act(agent, number, "accept")
    assert done.status_code == 303
    page = await agent.get(done.headers["location"])
    assert "已受理" in page.text


async def test_handlers_see_their_department_only(
    console: Console, people: dict[str, httpx.AsyncClient]
) -> None:
    number = await web_request(console.http, console.runtime)
    agent, env, market = people["agent"], people["env"], people["market"]
    assert (await act(agent, number, "accept")).status_code == 303
    assert (await act(agent, number, "dispatch", department="environment")).status_code == 303
    todo = await env.get("/console/inbox")
    assert number in todo.text and "待办" in todo.text
    assert number not in (await market.get("/console/inbox?box=all")).text
    assert (await market.get(f"/console/tickets/{number}")).status_code == 404
    token = csrf_of((await market.get("/console/inbox")).text)
    forged = await market.post(
        f"/console/tickets/{number}/act",
        data={"action": "reply", "text": "x", "csrf": token},
    )
    assert forged.status_code == 404
    # a handler may not dispatch: the lifecycle's role check, as in the API
    page = await env.get(f"/console/tickets/{number}")
    assert 'value="dispatch"' not in page.text
    refused = await env.post(
        f"/console/tickets/{number}/act",
        data={"action": "dispatch", "department": "market", "csrf": csrf_of(page.text)},
    )
    assert refused.status_code == 403
    # the same rule as the API: an unknown box or a bad date is a 422 with the reason
    assert (await env.get("/console/inbox?box=supervision")).status_code == 422
    assert (await env.get("/console/inbox?date_from=yesterday")).status_code == 422


async def test_an_anonymous_citizen_is_hidden_from_handlers(
    console: Console, people: dict[str, httpx.AsyncClient]
) -> None:
    number = await web_request(console.http, console.runtime, anonymous=True, name="王五")
    agent, env, boss = people["agent"], people["env"], people["boss"]
    await act(agent, number, "accept")
    await act(agent, number, "dispatch", department="environment")
    page = await env.get(f"/console/tickets/{number}")
    assert page.status_code == 200
    for leak in ("13812345678", "5678", "王五", "王*"):
        assert leak not in page.text
    assert "匿名" in page.text and "显示完整号码" not in page.text
    refused = await env.post(
        f"/console/tickets/{number}/reveal", data={"reason": "回访", "csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 403
    listed = await env.get("/console/inbox")
    assert number in listed.text and "5678" not in listed.text

    masked = await agent.get(f"/console/tickets/{number}")
    assert "+86138****5678" in masked.text and "13812345678" not in masked.text
    no_reason = await agent.post(
        f"/console/tickets/{number}/reveal", data={"reason": "", "csrf": csrf_of(masked.text)}
    )
    assert no_reason.status_code == 422
    shown = await agent.post(
        f"/console/tickets/{number}/reveal",
        data={"reason": "回访核实", "csrf": csrf_of(masked.text)},
    )
    assert shown.status_code == 200 and "+8613812345678" in shown.text
    again = await agent.get(f"/console/tickets/{number}")
    assert "+8613812345678" not in again.text  # shown once, to the one who asked
    audit_page = await boss.get(f"/console/tickets/{number}")
    assert "agent 查看完整联系方式：回访核实" in audit_page.text
    assert "env 打开工单" in audit_page.text  # every opening is recorded, shown to supervisors
    async with console.runtime.db.read() as session:
        actions = list(
            await session.scalars(select(AuditEntry.action).where(AuditEntry.subject == number))
        )
    assert "contact_reveal" in actions and actions.count("ticket_view") >= 3


async def test_files_only_for_staff_who_see_the_ticket(
    console: Console, people: dict[str, httpx.AsyncClient]
) -> None:
    files = [
        ("attachments", ("现场.png", io.BytesIO(PNG), "image/png")),
        ("attachments", ("材料.pdf", io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "application/pdf")),
    ]
    fields = {
        "phone": "13812345678",
        "name": "张三",
        "request_type": "complaint",
        "content": "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。",
    }
    created = await console.http.post(
        "/api/v1/requests", data=fields, files=files, headers={"Accept": "application/json"}
    )
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    from tests.core.helpers import drain

    await drain(console.runtime)
    async with console.runtime.db.write() as session, session.begin():  # bytes that lie
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        saved = await console.runtime.attachments.save(
            b"<html><script>alert(1)</script>", filename="x.png", content_type="image/png"
        )
        session.add(
            AttachmentRecord(
                ticket_id=ticket.id,
                filename="x.png",
                content_type="image/png",
                size=saved.size,
                sha256=saved.sha256,
                storage_key=saved.storage_key,
            )
        )
    agent, market = people["agent"], people["market"]
    page = await agent.get(f"/console/tickets/{number}")
    assert "现场.png" in page.text
    links = sorted(
        set(part.split('"')[0] for part in page.text.split(f"/console/tickets/{number}/files/")[1:])
    )
    image = await agent.get(f"/console/tickets/{number}/files/{links[0].split('?')[0]}?inline=1")
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    ids = sorted({link.split("?")[0] for link in links})
    for file_id in ids:
        download = await agent.get(f"/console/tickets/{number}/files/{file_id}")
        assert download.headers["content-disposition"].startswith("attachment")
        assert download.headers["content-type"] in {
            "image/png",
            "application/pdf",
            "application/octet-stream",
        }
        inline = await agent.get(f"/console/tickets/{number}/files/{file_id}?inline=1")
        if inline.content.startswith(b"<html>"):  # not an image: never shown inline
            assert inline.headers["content-disposition"].startswith("attachment")
            assert inline.headers["content-type"] == "application/octet-stream"
        url = f"/console/tickets/{number}/files/{file_id}"
        assert (await market.get(url)).status_code == 404
        assert (await console.http.get(url)).status_code == 303


async def test_departments_come_from_the_database(
    console: Console, people: dict[str, httpx.AsyncClient]
) -> None:
    admin_token = await make_staff(console.runtime, "root", Role.ADMIN)
    assert admin_token
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app), base_url="http://testserver"
    )
    async with admin:
        assert (await sign_in(admin, "root")).status_code == 303
        page = await admin.get("/console/admin/departments")
        assert "生态环境局" in page.text  # seeded from the shipped file
        saved = await admin.post(
            "/console/admin/departments",
            data={
                "code": "street-office",
                "name": "幸福街道办事处",
                "active": "on",
                "csrf": csrf_of(page.text),
            },
        )
        assert saved.status_code == 200 and "幸福街道办事处" in saved.text
        bad = await admin.post(
            "/console/admin/departments",
            data={"code": "bad code!", "name": "x", "csrf": csrf_of(page.text)},
        )
        assert bad.status_code == 422
        refused = await people["agent"].get("/console/admin/departments")
        assert refused.status_code == 403
    number = await web_request(console.http, console.runtime)
    agent = people["agent"]
    await act(agent, number, "accept")
    done = await act(agent, number, "dispatch", department="street-office")
    assert done.status_code == 303
    async with console.runtime.db.read() as session:
        department = await session.scalar(select(Ticket.department).where(Ticket.number == number))
    assert department == "street-office"


async def test_an_admin_sets_where_a_handler_gets_alerts(
    console: Console, people: dict[str, httpx.AsyncClient]
) -> None:
    await make_staff(console.runtime, "root", Role.ADMIN)
    async with console.runtime.db.read() as session:
        handler = await session.scalar(select(Staff).where(Staff.name == "env"))
    assert handler is not None
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app), base_url="http://testserver"
    )
    async with admin:
        assert (await sign_in(admin, "root")).status_code == 303
        page = await admin.get("/console/admin/staff")
        url = f"/console/admin/staff/{handler.id}/contact"
        saved = await admin.post(
            url,
            data={
                "phone": "13812345678",
                "wecom_userid": "zhangsan",
                "prefer": "wecom,sms",
                "csrf": csrf_of(page.text),
            },
        )
        assert saved.status_code == 200 and "已更新 env 的提醒方式" in saved.text
        assert "13812345678" not in saved.text and "138****5678" in saved.text  # masked
        kept = await admin.post(url, data={"email": "zs@env.gov.cn", "csrf": csrf_of(page.text)})
        assert kept.status_code == 200
        bad = await admin.post(url, data={"phone": "12345", "csrf": csrf_of(page.text)})
        assert bad.status_code == 422
        forged = await admin.post(url, data={"phone": "13812345678"})
        assert forged.status_code in (400, 403)  # no CSRF token
        refused = await people["agent"].post(
            url, data={"phone": "13912345678", "csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 403
    async with console.runtime.db.read() as session:
        contact = await session.scalar(select(Staff.contact).where(Staff.id == handler.id))
    assert contact is not None
    assert contact["sms"] == "+8613812345678" and contact["wecom"] == "zhangsan"
    assert contact["email"] == "zs@env.gov.cn"  # an empty field left the others as they were
    assert contact["prefer"] == ["wecom", "sms"]
