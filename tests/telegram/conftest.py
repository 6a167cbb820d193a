"""Telegram fixtures: the fake Bot API, and the service with the bot mounted and the pipeline
running in the background (webhook POSTs go through the real app, replies to the fake)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from channels.telegram.connector import SECRET_HEADER, TelegramConnector
from intake.config import Settings
from intake.runtime import Runtime
from service.app import create_app
from service.connectors import REGISTRY
from service.settings import service_settings
from service.wiring import open_runtime
from tests.telegram.fake_bot_api import TOKEN, FakeBotApi

SECRET = "s3cret-hook_token"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    await fake.start()
    yield fake
    await fake.stop()


@dataclass
class Service:
    http: httpx.AsyncClient
    runtime: Runtime
    connector: TelegramConnector
    fake: FakeBotApi

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.http.post("/channels/telegram", json=update, headers=headers)

    async def send(self, update: dict[str, Any]) -> None:
        response = await self.post(update)
        assert response.status_code == 200, response.text


def telegram_section(fake: FakeBotApi, **extra: Any) -> dict[str, Any]:
    return {
        "token": TOKEN,
        "api_base": fake.base,
        "secret_token": SECRET,
        "reply_wait_s": 10,
        **extra,
    }


def telegram_connector(runtime: Runtime) -> TelegramConnector:
    """The connector as the composition root builds it, from the parts of `runtime`."""
    connector = REGISTRY["telegram"](runtime, service_settings(runtime.settings))
    assert isinstance(connector, TelegramConnector)
    return connector


@pytest.fixture
async def service(settings: Settings, fake_api: FakeBotApi) -> AsyncIterator[Service]:
    settings.telegram = telegram_section(fake_api)
    runtime = await open_runtime(settings)
    connector = telegram_connector(runtime)
    app = create_app(settings, runtime=runtime)
    app.include_router(connector.router())  # the registry entry is the lead's to add
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="tg").run(stop))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield Service(http, runtime, connector, fake_api)
    stop.set()
    await worker
    await connector.aclose()
    await runtime.close()
