"""The poller through failures: an update that met a Redis outage is handled again once Redis
is back (its offset not confirmed meanwhile); one that fails for another reason is kept as a
dead letter and skipped; deleting the webhook at start is retried until Telegram answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from sqlalchemy import func, select

from channels.telegram.connector import TelegramConnector
from channels.telegram.polling import Poller
from intake.config import Settings
from intake.domain.models import Ticket
from intake.ingest.deadletter import list_dead
from intake.runtime import Runtime
from tests.fault_servers import RedisServer
from tests.polling import poll
from tests.telegram import updates as u
from tests.telegram.conftest import telegram_connector, telegram_section
from tests.telegram.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the poller's logic, not SQL's

OTHER = 555777  # a second citizen's chat


@dataclass
class Polling:
    runtime: Runtime
    connector: TelegramConnector
    poller: Poller


@pytest.fixture
async def polling(
    settings: Settings, fake_api: FakeBotApi, request: pytest.FixtureRequest
) -> AsyncIterator[Polling]:
    """The poller and a pipeline worker running; the Redis is the test's own when it asks
    for `private_redis`."""
    if "private_redis" in request.fixturenames:
        settings.redis_url = request.getfixturevalue("private_redis").url
    settings.telegram = telegram_section(fake_api, mode="polling", polling_timeout=1)
    runtime = await Runtime.open(settings)
    connector = telegram_connector(runtime)
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="tg").run(stop))
    poller = connector.poller()
    polling_task = asyncio.create_task(poller.run())
    try:
        yield Polling(runtime, connector, poller)
    finally:
        polling_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling_task
        stop.set()
        await worker
        await connector.aclose()
        await runtime.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


async def _tickets(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_an_update_met_by_a_redis_outage_is_not_skipped(
    private_redis: RedisServer, polling: Polling, fake_api: FakeBotApi
) -> None:
    first = u.text("小区路灯坏了三天了，晚上很黑")
    fake_api.push_update(first)
    before = first["update_id"] + 1
    await poll(lambda: _async(polling.poller.offset == before), timeout=30)

    private_redis.kill()
    stranded = u.text("公园的长椅坏了，有钉子露出来", chat=OTHER)
    fake_api.push_update(stranded)

    async def outage_met() -> bool:
        return polling.poller.outages.active

    await poll(outage_met, timeout=15)
    assert polling.poller.offset == before  # not confirmed while it could not be handled
    assert fake_api.sent(OTHER) == []

    private_redis.start()
    await poll(lambda: _async(polling.poller.offset == stranded["update_id"] + 1), timeout=30)
    assert len(fake_api.sent(OTHER)) == 1  # handled once, not skipped, not twice
    await poll(lambda: _tickets_are(polling.runtime, 2), timeout=30)
    assert not await list_dead(polling.runtime.redis.client, polling.runtime.redis.keys)


async def test_an_update_failing_otherwise_is_dead_lettered_and_skipped(
    polling: Polling, fake_api: FakeBotApi
) -> None:
    poison = u.text("这条消息的处理会出错")

    async def break_one(
        handler: Callable[[Update, dict[str, Any]], Awaitable[Any]],
        update: Update,
        data: dict[str, Any],
    ) -> Any:
        if update.update_id == poison["update_id"]:
            raise RuntimeError("a bug in a handler")
        return await handler(update, data)

    polling.connector.app.dispatcher.update.outer_middleware(break_one)  # type: ignore[arg-type]
    fake_api.push_update(poison)
    after = u.text("路口红绿灯不亮，很危险", chat=OTHER)
    fake_api.push_update(after)

    await poll(lambda: _async(polling.poller.offset == after["update_id"] + 1), timeout=30)
    assert len(fake_api.sent(OTHER)) == 1
    dead = await list_dead(polling.runtime.redis.client, polling.runtime.redis.keys)
    assert [d.original_id for d in dead] == [f"telegram:{poison['update_id']}"]
    assert "RuntimeError" in dead[0].reason and dead[0].fields["msg"]
    assert polling.poller.dead_lettered == 1


async def test_deleting_the_webhook_is_retried(settings: Settings, fake_api: FakeBotApi) -> None:
    fake_api.fail_method("deleteWebhook", "server", "server")
    settings.telegram = telegram_section(fake_api, mode="polling", polling_timeout=1)
    runtime = await Runtime.open(settings)
    connector = telegram_connector(runtime)
    running = asyncio.create_task(connector.poller().run())
    try:
        await fake_api.wait_for("getUpdates")
        assert len(fake_api.sent(method="deleteWebhook")) == 3
        assert not running.done()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await connector.aclose()
        await runtime.close()


async def _async(value: bool) -> bool:
    return value


async def _tickets_are(runtime: Runtime, count: int) -> bool:
    return await _tickets(runtime) == count
