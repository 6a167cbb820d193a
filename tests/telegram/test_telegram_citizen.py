"""The citizen bot end to end: webhook updates in, the pipeline running, replies out to the
fake Bot API; guided request, attachments, phone linking, duplicates and the secret."""

from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from intake.domain.messages import IdentityKind
from intake.domain.models import CitizenIdentity, Ticket, TicketEvent
from intake.ingest.send_state import SendState
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.core.helpers import request_body
from tests.telegram import updates as u
from tests.telegram.conftest import Service
from tests.telegram.updates import CITIZEN

PHONE = "+8613812345678"


async def _tickets(service: Service) -> list[Ticket]:
    async with service.runtime.db.read() as session:
        found = await session.scalars(
            select(Ticket).options(selectinload(Ticket.attachments)).order_by(Ticket.id)
        )
        return list(found)


async def _wait_tickets(service: Service, count: int) -> list[Ticket]:
    """The background worker's tickets, once there are `count` of them."""
    for _ in range(500):
        tickets = await _tickets(service)
        if len(tickets) >= count:
            return tickets
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} tickets")


async def _guided(service: Service, *steps: dict) -> None:
    await service.send(u.text("/new"))
    await service.send(u.text("投诉 Complaint"))
    for step in steps:
        await service.send(step)


async def test_start_explains_in_chinese_and_english(service: Service) -> None:
    await service.send(u.text("/start"))
    (welcome,) = service.fake.texts(CITIZEN)
    assert "12345" in welcome and "/new" in welcome and "Send /status" in welcome
    assert await _tickets(service) == []


async def test_guided_request_gets_its_number(service: Service) -> None:
    await _guided(
        service,
        u.text("幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"),
        u.location(31.2304, 121.4737),
    )
    prompts = service.fake.sent(CITIZEN)
    assert prompts[-1].markup["keyboard"][0][0]["request_contact"] is True
    await service.send(u.contact("8613812345678"))
    (ticket,) = await _tickets(service)
    assert ticket.channel == "telegram" and ticket.request_type == "complaint"
    assert (ticket.latitude, ticket.longitude) == (31.2304, 121.4737)
    assert ticket.contact_phone == PHONE and "烧烤店" in ticket.content
    answer = service.fake.texts(CITIZEN)[-1]
    assert ticket.number in answer and ticket.query_code in answer
    state = SendState(service.runtime.redis.client, keys=service.runtime.redis.keys)
    assert await state.get(f"ack:{ticket.number}", "telegram") == "sent:passive-reply"
    await service.send(u.text("/status"))
    assert ticket.number in service.fake.texts(CITIZEN)[-1]


async def test_typed_address_and_skipped_phone(service: Service) -> None:
    await _guided(service, u.text("路灯坏了三天"), u.text("人民路88号门口"), u.text("跳过 Skip"))
    (ticket,) = await _tickets(service)
    assert ticket.address == "人民路88号门口" and ticket.latitude is None
    assert ticket.contact_phone is None


async def test_someone_elses_contact_is_refused(service: Service) -> None:
    await _guided(service, u.text("井盖丢了"), u.text("跳过 Skip"))
    await service.send(u.contact("8613912345678", user_id=777))
    assert await _tickets(service) == []
    assert "本人" in service.fake.texts(CITIZEN)[-1]


async def test_duplicate_update_makes_no_second_ticket(service: Service) -> None:
    update = u.text("小区东门的垃圾三天没人清运了，臭气熏天")
    await service.send(update)
    await service.send(update)
    await service.send(update)
    (ticket,) = await _tickets(service)
    replies = [t for t in service.fake.texts(CITIZEN) if ticket.number in t]
    assert len(replies) == 1


async def test_wrong_or_missing_secret_is_403(service: Service) -> None:
    update = u.text("路灯坏了")
    assert (await service.post(update, secret="wrong")).status_code == 403
    assert (await service.post(update, secret=None)).status_code == 403
    assert service.fake.calls == [] and await _tickets(service) == []


async def test_photo_is_attached_to_the_ticket(service: Service) -> None:
    picture = b"\xff\xd8\xff\xe0 fake jpeg bytes " * 50
    service.fake.files["ph1"] = picture
    await _guided(
        service,
        u.photo("ph1", len(picture), caption="路面塌陷了一个大坑，很危险"),
        u.location(31.2, 121.4),
        u.text("跳过 Skip"),
    )
    (ticket,) = await _tickets(service)
    (attachment,) = ticket.attachments
    assert attachment.sha256 == hashlib.sha256(picture).hexdigest()
    assert attachment.storage_key is not None
    stored = service.runtime.attachments.path_of(attachment.storage_key)
    assert stored.read_bytes() == picture and ticket.content.startswith("路面塌陷")


async def test_shared_phone_links_the_web_citizen(service: Service) -> None:
    await _guided(
        service, u.text("噪音扰民，工地夜间施工"), u.text("跳过 Skip"), u.contact("+8613812345678")
    )
    response = await service.http.post("/api/v1/requests", json=request_body(phone="13812345678"))
    assert response.status_code in (200, 201), response.text
    tickets = await _wait_tickets(service, 2)
    assert len(tickets) == 2 and tickets[0].citizen_id == tickets[1].citizen_id
    async with service.runtime.db.read() as session:
        kinds = set(
            await session.scalars(
                select(CitizenIdentity.kind).where(
                    CitizenIdentity.citizen_id == tickets[0].citizen_id
                )
            )
        )
        count = await session.scalar(select(func.count()).select_from(CitizenIdentity))
    assert kinds == {IdentityKind.TELEGRAM.value, IdentityKind.PHONE.value} and count == 2


async def test_plain_messages_follow_up_and_status(service: Service) -> None:
    await service.send(u.text("人民路的红绿灯坏了，路口很乱"))
    (ticket,) = await _tickets(service)
    await service.send(u.text(f"补充：{ticket.number} 早上八点开始坏的"))
    assert ticket.number in service.fake.texts(CITIZEN)[-1]
    assert "补充" in service.fake.texts(CITIZEN)[-1]
    await service.send(u.text("/my"))
    assert "待受理" in service.fake.texts(CITIZEN)[-1]
    assert len(await _tickets(service)) == 1
    answered = len(service.fake.sent(CITIZEN))
    sender = service.connector.sender()
    assert sender is not None
    notifier = Notifier(notifier_parts(service.runtime), senders={"telegram": sender})
    try:  # the bot answered all three itself: no second ack, no instant replies
        await notifier.run_due()
    finally:
        await notifier.close()
    assert len(service.fake.sent(CITIZEN)) == answered


async def test_an_answer_the_bot_gave_is_not_sent_again(service: Service) -> None:
    """Answered at once from the knowledge base: the bot's reply carried the number and the
    answer; the notifier, once the bot had its time, sends neither again."""
    from datetime import timedelta

    from intake.domain.clock import utcnow

    await service.send(u.text("我的社保卡丢了，怎么补办？"))
    (ticket,) = await _wait_tickets(service, 1)
    assert ticket.status == "closed"
    answer = service.fake.texts(CITIZEN)[-1]
    assert ticket.number in answer and "社保卡" in answer
    answered = len(service.fake.sent(CITIZEN))
    sender = service.connector.sender()
    assert sender is not None
    state = SendState(service.runtime.redis.client, keys=service.runtime.redis.keys)
    later = Notifier(
        notifier_parts(service.runtime),
        senders={"telegram": sender},
        clock=lambda: utcnow() + timedelta(seconds=11),
    )
    try:
        await later.run_due()
    finally:
        await later.close()
    assert len(service.fake.sent(CITIZEN)) == answered
    async with service.runtime.db.read() as session:
        closed = await session.scalar(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "closed"
            )
        )
    assert closed is not None
    assert await state.get(f"closed:{closed.id}", "telegram") == "sent:passive-reply"
