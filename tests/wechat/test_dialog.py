"""The guided conversation end to end: signed pushes through the route, the pipeline running,
a real Redis holding the drafts and a real database receiving the one ticket at the end."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.config import Settings
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Ticket
from intake.guided import DraftStore
from intake.guided.draft import filed_message
from tests.wechat.service import (
    Service,
    click_push,
    location_push,
    post,
    push_xml,
    text_push,
    wechat_service,
)
from tests.wechat.wechat_helpers import APP_ID

ASK_PLACE = "具体位置"
ASK_PHONE = "联系电话"


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    async with wechat_service(settings) as service:
        yield service


async def tickets(svc: Service) -> list[Ticket]:
    async with svc.runtime.db.read() as session:
        found = await session.scalars(
            select(Ticket).options(selectinload(Ticket.attachments)).order_by(Ticket.id)
        )
        return list(found)


async def draft_exists(svc: Service, openid: str = "o_user1") -> bool:
    prefix = svc.runtime.redis.keys.prefix
    key = f"{prefix}wechat:dialog:draft:{APP_ID}:{openid}"
    return bool(await svc.runtime.redis.client.exists(key))


async def until_tickets(svc: Service, count: int, *, within: float = 10.0) -> list[Ticket]:
    deadline = time.monotonic() + within
    while len(found := await tickets(svc)) < count:
        assert time.monotonic() < deadline, f"expected {count} tickets, have {len(found)}"
        await asyncio.sleep(0.05)
    return found


async def test_asks_place_then_phone_and_files_one_ticket_with_everything(svc: Service) -> None:
    first = await post(svc.client, text_push("门口的路灯坏了，晚上一片漆黑", "100"))
    assert ASK_PLACE in first and "10分钟" in first
    assert await tickets(svc) == [] and await draft_exists(svc)
    second = await post(
        svc.client, location_push("101", lat=23.1345, lng=113.3588, label="临江市幸福路12号")
    )
    assert ASK_PHONE in second
    done = await post(svc.client, text_push("我的电话 138 1234 5678", "102"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and ticket.query_code in done
    assert "门口的路灯坏了" in ticket.content and "临江市幸福路12号" in ticket.content
    assert "138 1234 5678" in ticket.content
    assert ticket.contact_phone == "+8613812345678"
    assert (ticket.latitude, ticket.longitude) == (23.1345, 113.3588)
    assert ticket.address == "临江市幸福路12号" and ticket.channel == "wechat"
    assert not await draft_exists(svc)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_typed_address_then_submit_word_files_without_phone(svc: Service) -> None:
    assert ASK_PLACE in await post(svc.client, text_push("井盖不见了，很容易掉下去", "110"))
    assert ASK_PHONE in await post(svc.client, text_push("学校东门旁边", "111"))
    done = await post(svc.client, text_push("提交。", "112"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done
    assert ticket.address == "学校东门旁边" and ticket.contact_phone is None
    assert ticket.content == "井盖不见了，很容易掉下去\n学校东门旁边"  # not the finish word


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_complete_request_is_filed_at_once(svc: Service) -> None:
    reply = await post(svc.client, text_push("幸福路12号的路灯坏了，电话13812345678", "120"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in reply and not await draft_exists(svc)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_invalid_phone_is_asked_again_then_taken(svc: Service) -> None:
    await post(svc.client, text_push("幸福路上的路灯不亮", "130"))
    again = await post(svc.client, text_push("12345678901", "131"))
    assert "不正确" in again and await tickets(svc) == []
    done = await post(svc.client, text_push("０２１－６２３４５６７８", "132"))  # full-width
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and ticket.contact_phone == "+862162345678"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cancel_drops_the_draft(svc: Service) -> None:
    await post(svc.client, text_push("路面塌陷了一个大坑", "140"))
    assert "已取消" in await post(svc.client, text_push("取消", "141"))
    assert not await draft_exists(svc) and await tickets(svc) == []
    reply = await post(svc.client, text_push("我要投诉楼下烧烤店油烟太大", "142"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in reply and "路面" not in ticket.content


async def test_retry_storm_in_a_conversation_is_one_step_and_one_ticket(svc: Service) -> None:
    start = text_push("红绿灯不亮了", "150")
    asked = await asyncio.gather(*(post(svc.client, start) for _ in range(3)))
    assert len(set(asked)) == 1 and ASK_PLACE in asked[0]
    place = text_push("人民路和解放路路口", "151")
    asked = await asyncio.gather(*(post(svc.client, place) for _ in range(3)))
    assert len(set(asked)) == 1 and ASK_PHONE in asked[0]
    phone = text_push("13912345678", "152")
    done = await asyncio.gather(*(post(svc.client, phone) for _ in range(3)))
    [ticket] = await until_tickets(svc, 1)
    assert len(set(done)) == 1 and ticket.number in done[0]
    assert ticket.content.count("人民路和解放路路口") == 1
    late = await post(svc.client, phone)  # a retry after it was filed: same answer, no ticket
    assert late == done[0] and len(await tickets(svc)) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_status_query_passes_through_a_conversation(svc: Service) -> None:
    await post(svc.client, text_push("小区门口的路灯坏了，电话13812345678", "160"))
    status = await post(svc.client, text_push("进度", "161"))
    assert "没有正在办理的诉求" in status and await draft_exists(svc)
    done = await post(svc.client, text_push("就这样", "162"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and ticket.contact_phone == "+8613812345678"
    listing = await post(svc.client, text_push("查询", "163"))
    assert ticket.number in listing and "待受理" in listing
    alone = await post(svc.client, text_push(ticket.number, "164"))
    assert f"工单 {ticket.number} 当前状态：待受理" in alone
    menu = await post(svc.client, click_push("MY_REQUESTS", ts=int(time.time()) + 7))
    assert ticket.number in menu
    other = await post(svc.client, text_push(ticket.number, "165", openid="o_other"))
    assert ticket.number not in other  # someone else's ticket is not shown


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_typing_someone_elses_phone_shows_none_of_their_tickets(svc: Service) -> None:
    owner = InboundMessage(
        channel="sms",
        external_id="sms-owner-1",
        sender=SenderIdentity(IdentityKind.PHONE, "+8613812345678"),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text="我家楼下垃圾三天没人清运了",
    )
    await svc.runtime.gateway.submit(owner)
    [theirs] = await until_tickets(svc, 1)
    await post(svc.client, text_push("幸福路12号路灯坏了", "175"))
    done = await post(svc.client, text_push("13812345678", "176"))  # their number, typed
    [_, mine] = await until_tickets(svc, 2)
    assert mine.number in done and mine.contact_phone == "+8613812345678"
    assert mine.citizen_id != theirs.citizen_id
    listing = await post(svc.client, text_push("查询", "177"))
    assert mine.number in listing and theirs.number not in listing
    assert theirs.number not in await post(svc.client, text_push(theirs.number, "178"))


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_menu_starts_a_conversation(svc: Service) -> None:
    assert "请发送您要反映的问题" in await post(svc.client, click_push("FILE_REQUEST"))
    assert ASK_PLACE in await post(svc.client, text_push("公园里的健身器材坏了", "171"))
    assert ASK_PHONE in await post(svc.client, text_push("滨江广场东侧", "172"))
    done = await post(svc.client, text_push("15900001111", "173"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and ticket.address == "滨江广场东侧"
    assert ticket.district == "jiangcheng"  # triage routed it by the typed place


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_known_phone_is_not_asked_again(svc: Service) -> None:
    await post(svc.client, text_push("幸福路12号路灯坏了", "180"))
    await post(svc.client, text_push("13812345678", "181"))
    await until_tickets(svc, 1)
    assert ASK_PLACE in await post(svc.client, text_push("井盖坏了", "182"))
    done = await post(svc.client, text_push("幸福路20号对面", "183"))
    [_, second] = await until_tickets(svc, 2)
    assert second.number in done and second.contact_phone == "+8613812345678"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_urgent_and_referencing_messages_are_never_held(svc: Service) -> None:
    urgent = await post(svc.client, text_push("路灯杆倒了压住人了，有人被困，紧急", "190"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in urgent and not await draft_exists(svc)
    follow = await post(svc.client, text_push(f"{ticket.number} 的路灯杆还没人来", "191"))
    assert ticket.number in follow and not await draft_exists(svc)  # the core took it
    assert len(await tickets(svc)) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_voice_and_image_join_the_draft(svc: Service) -> None:
    voice = push_xml(
        "voice",
        "<MediaId><![CDATA[mv1]]></MediaId><Format><![CDATA[amr]]></Format>"
        "<Recognition><![CDATA[路边的护栏被撞坏了]]></Recognition>",
        msg_id="200",
    )
    assert ASK_PLACE in await post(svc.client, voice)
    image = push_xml(
        "image",
        "<PicUrl><![CDATA[http://mmbiz/p.jpg]]></PicUrl><MediaId><![CDATA[mi1]]></MediaId>",
        msg_id="201",
    )
    assert ASK_PLACE in await post(svc.client, image)  # the question stays
    await post(svc.client, text_push("人民路88号", "202"))
    await post(svc.client, text_push("好了", "203"))
    [ticket] = await until_tickets(svc, 1)
    assert {a.media_id for a in ticket.attachments} == {"mv1", "mi1"}
    assert ticket.content.startswith("路边的护栏被撞坏了")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_timeout_files_the_draft_from_the_sweep(svc: Service) -> None:
    await post(svc.client, text_push("垃圾桶坏了", "210"))
    await post(svc.client, text_push("幸福路12号", "211"))
    dialog = svc.connector.dialog
    assert dialog is not None
    assert await dialog.file_overdue() == 0  # not yet
    svc.clock.offset = timedelta(minutes=11)
    sweep = asyncio.create_task(dialog.run(interval_s=0.02))
    try:
        [ticket] = await until_tickets(svc, 1)
    finally:
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep
    assert ticket.content == "垃圾桶坏了\n幸福路12号" and ticket.address == "幸福路12号"
    assert not await draft_exists(svc)
    assert await dialog.file_overdue() == 0


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_timeout_files_the_draft_on_the_next_message(svc: Service) -> None:
    await post(svc.client, text_push("盲道被占了", "220"))
    svc.clock.offset = timedelta(minutes=11)
    reply = await post(svc.client, text_push("楼下烧烤店油烟扰民", "221"))
    first, second = await until_tickets(svc, 2)
    assert first.content == "盲道被占了" and second.number in reply
    assert "油烟" in second.content


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_questions_stop_after_max_asks(svc: Service) -> None:
    def image(msg_id: str) -> str:
        return push_xml("image", f"<MediaId>m{msg_id}</MediaId>", msg_id=msg_id)

    assert ASK_PLACE in await post(svc.client, text_push("路灯坏了", "230"))
    assert ASK_PLACE in await post(svc.client, image("231"))  # asked twice
    assert ASK_PHONE in await post(svc.client, image("232"))  # moves on
    assert ASK_PHONE in await post(svc.client, image("233"))
    done = await post(svc.client, image("234"))  # nothing left to ask: filed
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and len(ticket.attachments) == 4


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_without_the_dialog_every_request_is_filed_at_once(settings: Settings) -> None:
    async with wechat_service(settings, dialog={"enabled": False}) as off:
        assert off.connector.dialog is None and off.connector.background_tasks() == []
        reply = await post(off.client, text_push("路灯坏了", "240"))
        [ticket] = await until_tickets(off, 1)
        assert ticket.number in reply
        assert "请直接发送您的诉求" in await post(off.client, click_push("FILE_REQUEST"))


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("submitted", [False, True])
async def test_a_crash_while_filing_is_resumed_by_the_retry(svc: Service, submitted: bool) -> None:
    """The process died after marking the draft as filing (and maybe after submitting it):
    WeChat's retry of the finishing message files it once and gets the ticket number."""
    await post(svc.client, text_push("路灯坏了", "250"))
    store = DraftStore(svc.runtime.redis.client, svc.runtime.redis.keys, channel="wechat")
    draft = await store.load(APP_ID, "o_user1")
    assert draft is not None
    draft.filing = "251"
    await store.commit(account=APP_ID, user="o_user1", draft=draft)
    if submitted:
        await svc.runtime.gateway.submit(filed_message(draft, reason="citizen"), open_ticket=True)
    reply = await post(svc.client, text_push("提交", "251"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in reply and ticket.content == "路灯坏了"
    assert not await draft_exists(svc)
    assert await post(svc.client, text_push("提交", "251")) == reply
