"""Long polling: the poller deletes the webhook, reads getUpdates, handles the update like the
webhook would, and confirms it with the next offset."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from intake.config import Settings
from intake.domain.models import Ticket
from intake.runtime import Runtime
from tests.telegram import updates as u
from tests.telegram.conftest import telegram_connector, telegram_section
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import CITIZEN


async def test_poller_reads_updates_and_answers(settings: Settings, fake_api: FakeBotApi) -> None:
    settings.telegram = telegram_section(fake_api, mode="polling", polling_timeout=1)
    runtime = await Runtime.open(settings)
    connector = telegram_connector(runtime)
    assert len(connector.background_tasks()) == 1
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="tg").run(stop))
    (poll,) = connector.background_tasks()
    poller = asyncio.create_task(poll())
    try:
        update = u.text("公交站台的顶棚被风吹坏了，下雨没法躲")
        fake_api.push_update(update)
        await fake_api.wait_for("sendMessage")
        async with runtime.db.read() as session:
            ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.number in fake_api.texts(CITIZEN)[-1]
        assert fake_api.sent(method="deleteWebhook")
        await fake_api.wait_for("getUpdates", count=len(fake_api.sent(method="getUpdates")) + 1)
        offsets = [c.params.get("offset") for c in fake_api.sent(method="getUpdates")]
        assert str(update["update_id"] + 1) in offsets
        assert len(fake_api.sent(CITIZEN)) == 1  # the update was not handled twice
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        stop.set()
        await worker
        await connector.aclose()
        await runtime.close()
