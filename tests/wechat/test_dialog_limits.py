"""A flood of guided conversations from one WeChat user: filed numbered, so limited at the
conversation; over the limit the citizen is told so and nothing is ticketed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from intake.config import Settings
from intake.domain.models import Ticket
from intake.guided import GuidedCatalogue
from tests.wechat.service import Service, post, text_push, wechat_service

TOO_MANY = GuidedCatalogue.load().texts["too_many"].render("zh")


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    settings.limits.submissions_per_sender = "2/hour"
    async with wechat_service(settings) as service:
        yield service


async def _count(svc: Service) -> int:
    async with svc.runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def _until(svc: Service, count: int) -> None:
    deadline = time.monotonic() + 10
    while await _count(svc) < count:
        assert time.monotonic() < deadline, f"fewer than {count} tickets"
        await asyncio.sleep(0.05)


async def _converse(svc: Service, n: int, openid: str = "o_user1") -> str:
    asked = await post(svc.client, text_push("门口的路灯坏了，晚上一片漆黑", f"{n}0", openid))
    assert "具体位置" in asked
    return await post(svc.client, text_push("提交", f"{n}1", openid))


async def test_a_flood_of_conversations_is_refused_politely(svc: Service) -> None:
    answers = [await _converse(svc, n) for n in range(2)]
    await _until(svc, 2)
    async with svc.runtime.db.read() as session:
        numbers = list(await session.scalars(select(Ticket.number).order_by(Ticket.id)))
    assert all(number in answer for number, answer in zip(numbers, answers, strict=True))
    assert await _converse(svc, 2) == TOO_MANY
    assert await _converse(svc, 3) == TOO_MANY
    await _converse(svc, 4, openid="o_neighbour")  # others are not slowed
    await _until(svc, 3)
    await svc.runtime.pipeline_worker(consumer="check").drain(limit_s=5)
    assert await _count(svc) == 3
    retried = await post(svc.client, text_push("提交", "11"))  # WeChat's retry of a filed one
    assert numbers[1] in retried
