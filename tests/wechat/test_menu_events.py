"""Menu events that carry what the citizen chose: a place from the location picker completes
the guided conversation; scanned codes are kept; menu photos are linked to their images."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from channels.wechat.menu_pics import PictureLinks
from channels.wechat.parse import to_inbound
from channels.wechat.xml import parse_xml
from intake.config import Settings
from intake.domain.messages import InboundMessage, MessageKind
from intake.redis.keys import Keys
from tests.wechat.service import Service, post, push_xml, text_push, wechat_service
from tests.wechat.test_dialog import ASK_PHONE, ASK_PLACE, draft_exists, until_tickets

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    async with wechat_service(settings) as service:
        yield service


def location_select_push(*, lat: float, lng: float, label: str, poi: str) -> str:
    body = (
        "<Event><![CDATA[location_select]]></Event><EventKey><![CDATA[report_place]]></EventKey>"
        f"<SendLocationInfo><Location_X><![CDATA[{lat}]]></Location_X>"
        f"<Location_Y><![CDATA[{lng}]]></Location_Y><Scale><![CDATA[15]]></Scale>"
        f"<Label><![CDATA[{label}]]></Label><Poiname><![CDATA[{poi}]]></Poiname>"
        "</SendLocationInfo>"
    )
    return push_xml("event", body)


async def test_location_picker_answers_the_question_for_a_place(svc: Service) -> None:
    first = await post(svc.client, text_push("门口的路灯坏了，晚上一片漆黑", "300"))
    assert ASK_PLACE in first and await draft_exists(svc)
    picked = location_select_push(
        lat=23.1345, lng=113.3588, label="临江市幸福路12号", poi="幸福小区"
    )
    assert ASK_PHONE in await post(svc.client, picked)
    done = await post(svc.client, text_push("13812345678", "302"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and not await draft_exists(svc)
    assert (ticket.latitude, ticket.longitude) == (23.1345, 113.3588)
    assert ticket.address == "临江市幸福路12号"
    assert "门口的路灯坏了" in ticket.content and "幸福小区" in ticket.content


async def test_a_waiting_scan_is_the_citizens_text(svc: Service) -> None:
    body = (
        "<Event><![CDATA[scancode_waitmsg]]></Event><EventKey><![CDATA[scan]]></EventKey>"
        "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
        "<ScanResult><![CDATA[路灯编号 LAMP-0451 幸福路 不亮]]></ScanResult></ScanCodeInfo>"
    )
    reply = await post(svc.client, push_xml("event", body))
    assert ASK_PHONE in reply  # a request like any typed one: the conversation asks on
    done = await post(svc.client, text_push("13812345678", "310"))
    [ticket] = await until_tickets(svc, 1)
    assert ticket.number in done and "LAMP-0451" in ticket.content


def parsed(xml: str) -> InboundMessage:
    return to_inbound(parse_xml(xml), account="wx_city_0001", received_at=AT, raw=xml)


def pic_event(count: int, ts: int) -> InboundMessage:
    items = "".join(
        f"<item><PicMd5Sum><![CDATA[{i:032x}]]></PicMd5Sum></item>" for i in range(count)
    )
    body = (
        "<Event><![CDATA[pic_photo_or_album]]></Event><EventKey><![CDATA[photo]]></EventKey>"
        f"<SendPicsInfo><Count>{count}</Count><PicList>{items}</PicList></SendPicsInfo>"
    )
    return parsed(push_xml("event", body, ts=ts))


def image(msg_id: str) -> InboundMessage:
    body = (
        "<PicUrl><![CDATA[http://mmbiz.example/p.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"
    )
    return parsed(push_xml("image", body, msg_id=msg_id))


async def test_menu_photos_are_linked_to_the_images_that_follow(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    links = PictureLinks(redis_client, keys=Keys(key_prefix))
    assert (await links.link(image("400"))).fields.get("menu_event") is None  # no event yet
    event = pic_event(2, ts=1795290000)
    assert event.fields["pic_count"] == 2 and len(event.fields["pic_md5"]) == 2
    assert await links.link(event) == event
    first, second = await links.link(image("401")), await links.link(image("402"))
    assert first.fields["menu_event"] == second.fields["menu_event"] == event.external_id
    assert first.kind is MessageKind.IMAGE and first.attachments == image("401").attachments
    assert (await links.link(image("401"))).fields["menu_event"] == event.external_id  # a retry
    assert (await links.link(image("403"))).fields.get("menu_event") is None  # beyond the count
