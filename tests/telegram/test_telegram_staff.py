"""Staff in the same bot: a one-time code from the staff API, /link, a department alert sent
by the notifier through the real sender, and "accept" from the alert's button."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from intake.domain.enums import Role
from intake.domain.models import Staff, Ticket, TicketEvent
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.helpers import staff
from tests.telegram import updates as u
from tests.telegram.conftest import Service

HANDLER_CHAT = 424242
STRANGER_CHAT = 313131


async def _act(http: httpx.AsyncClient, number: str, action: str, headers: dict, **body: object):
    response = await http.post(
        f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=headers
    )
    assert response.status_code == 200, response.text


async def _link(service: Service, headers: dict[str, str], chat: int) -> str:
    response = await service.http.post("/api/v1/staff/me/telegram-link", headers=headers)
    assert response.status_code == 200, response.text
    code = str(response.json()["code"])
    await service.send(u.text(f"/link {code}", chat=chat))
    return code


async def _ticket(service: Service) -> Ticket:
    await service.send(u.text("幸福路12号楼下烧烤店油烟很大，请处理。"))
    async with service.runtime.db.read() as session:
        found = await session.scalar(select(Ticket))
    assert found is not None
    return found


async def test_link_code_needs_a_staff_token_and_works_once(service: Service) -> None:
    refused = await service.http.post("/api/v1/staff/me/telegram-link")
    assert refused.status_code == 401
    staff_id, headers = await staff(service.runtime, Role.HANDLER, "environment")
    code = await _link(service, headers, HANDLER_CHAT)
    assert "已关联" in service.fake.texts(HANDLER_CHAT)[-1]
    async with service.runtime.db.read() as session:
        member = await session.get(Staff, staff_id)
    assert member is not None and member.contact["telegram"] == str(HANDLER_CHAT)
    await service.send(u.text(f"/link {code}", chat=STRANGER_CHAT))
    assert "无效" in service.fake.texts(STRANGER_CHAT)[-1]


async def test_linked_handler_gets_the_alert_and_accepts(service: Service) -> None:
    _, agent = await staff(service.runtime, Role.AGENT)
    handler_id, handler = await staff(service.runtime, Role.HANDLER, "environment")
    await _link(service, handler, HANDLER_CHAT)
    ticket = await _ticket(service)
    await _act(service.http, ticket.number, "dispatch", agent, department="environment")
    sender = service.connector.sender()
    assert sender is not None
    notifier = Notifier(notifier_parts(service.runtime), senders={"telegram": sender})
    try:
        await notifier.run_due()
    finally:
        await notifier.close()
    (alert,) = service.fake.sent(HANDLER_CHAT)[-1:]
    assert ticket.number in alert.params["text"]
    accept, _open = alert.markup["inline_keyboard"][0]

    await service.send(u.callback(accept["callback_data"], chat=STRANGER_CHAT))
    assert await _events(service, "accepted") == []

    await service.send(u.callback(accept["callback_data"], chat=HANDLER_CHAT))
    (event,) = await _events(service, "accepted")
    assert event.actor_id == handler_id and event.actor_name == "handler-environment"
    async with service.runtime.db.read() as session:
        again = await session.scalar(select(Ticket))
    assert again is not None and again.status == "in_progress"
    assert ticket.number in service.fake.texts(HANDLER_CHAT)[-1]

    await service.send(u.callback(_open["callback_data"], chat=HANDLER_CHAT))
    assert "烧烤店" in service.fake.texts(HANDLER_CHAT)[-1]


async def test_deactivated_staff_cannot_act(service: Service) -> None:
    _, agent = await staff(service.runtime, Role.AGENT)
    handler_id, handler = await staff(service.runtime, Role.HANDLER, "environment")
    await _link(service, handler, HANDLER_CHAT)
    ticket = await _ticket(service)
    await _act(service.http, ticket.number, "dispatch", agent, department="environment")
    async with service.runtime.db.write() as session, session.begin():
        member = await session.get(Staff, handler_id)
        assert member is not None
        member.active = False
    await service.send(u.callback(f"staff:accept:{ticket.number}", chat=HANDLER_CHAT))
    assert await _events(service, "accepted") == []
    (refusal,) = service.fake.sent(method="answerCallbackQuery")
    assert refusal.params.get("show_alert") in ("true", "True", True)


async def _events(service: Service, kind: str) -> list[TicketEvent]:
    async with service.runtime.db.read() as session:
        return list(await session.scalars(select(TicketEvent).where(TicketEvent.kind == kind)))
