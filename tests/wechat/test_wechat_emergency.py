"""A fire reported over WeChat gets 119 in the passive reply: from the pipeline's outcome when
it comes in time, and from the accept-time check when it does not (no pipeline running)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from intake.config import Settings
from intake.domain.models import Ticket
from intake.runtime import Runtime
from service.app import create_app
from tests.wechat.service import account_settings, wechat_service
from tests.wechat.service import post as _post
from tests.wechat.service import text_push as _text

FIRE = "幸福路12号3楼着火了，浓烟很大，楼上还有人！电话13812345678"
FIRE_NO_PHONE = "人民路菜市场后面的仓库着火了，火势很大"
PAST_FIRE = "去年冬天我家楼下着火了，到现在消防通道还被堵着，请督促物业。电话13812345678"


async def test_fire_gets_119_in_the_passive_reply(settings: Settings) -> None:
    async with wechat_service(settings) as service:
        reply = await _post(service.client, _text(FIRE, "9101"))
        async with service.runtime.db.read() as session:
            ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.urgent
        assert "119" in reply and ticket.number in reply
        assert reply.count("请立即拨打119") == 1  # the outcome's words, not repeated
        past = await _post(service.client, _text(PAST_FIRE, "9102", openid="o_past"))
        assert "119" not in past and "工单编号" in past


async def test_fire_gets_119_even_when_the_outcome_is_late(settings: Settings) -> None:
    settings.wechat = account_settings(reply_wait_s=0.2)
    runtime = await Runtime.open(settings)  # no pipeline: the outcome never comes
    try:
        app = create_app(settings, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            direct = await _post(client, _text(FIRE, "9201"))
            guided = await _post(client, _text(FIRE_NO_PHONE, "9202", openid="o_guided"))
            plain = await _post(client, _text("小区路灯坏了。电话13812345678", "9203"))
    finally:
        await runtime.close()
    assert "请立即拨打119" in direct
    assert "请立即拨打119" in guided
    assert "119" not in plain
