"""A flood of guided requests from one Telegram user: numbered at the bot, so limited there."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from intake.config import Settings
from intake.domain.models import Ticket
from intake.guided import GuidedCatalogue
from tests.telegram import updates as u
from tests.telegram.conftest import Service
from tests.telegram.updates import CITIZEN

NEIGHBOUR = 555002
TOO_MANY = GuidedCatalogue.load().form.texts["too_many"].render("both")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.limits.submissions_per_sender = "2/hour"
    return settings


async def _file(service: Service, text: str, chat: int = CITIZEN) -> None:
    for step in ("/new", "投诉 Complaint", text, "跳过 Skip", "跳过 Skip"):
        await service.send(u.text(step, chat=chat))


async def _count(service: Service) -> int:
    async with service.runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def _settled(service: Service, count: int) -> None:
    for _ in range(250):
        if await _count(service) >= count:
            await service.runtime.pipeline_worker(consumer="check").drain(limit_s=5)
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} tickets")


async def test_a_flood_of_guided_requests_is_refused_politely(service: Service) -> None:
    for i in range(2):
        await _file(service, f"第{i}件事：楼下烧烤店油烟扰民")
    await _settled(service, 2)
    await _file(service, "第三件事：又来一件")
    assert service.fake.texts(CITIZEN)[-1] == TOO_MANY
    await _file(service, "第四件事：还有一件")
    assert service.fake.texts(CITIZEN)[-1] == TOO_MANY
    await _file(service, "邻居的诉求：路灯坏了三天", chat=NEIGHBOUR)  # others are not slowed
    await _settled(service, 3)
    await service.runtime.pipeline_worker(consumer="check").drain(limit_s=5)
    assert await _count(service) == 3
