"""WeCom fixtures: the fake WeCom API, and the service with the WeCom callback mounted."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from channels.wecom.connector import WeComConnector, build
from intake.config import Settings
from intake.runtime import Runtime
from service.app import create_app
from service.connectors import wecom_parts
from service.settings import service_settings
from service.wiring import open_runtime
from tests.notifier.conftest import clock, nruntime
from tests.wecom.fake_wecom import AGENT_ID, CORP_ID, SECRET, FakeWeCom

__all__ = ["clock", "nruntime"]

TOKEN = "wecom-callback-token"
AES_KEY = base64.b64encode(os.urandom(32)).decode().rstrip("=")


def wecom_section(fake: FakeWeCom, **extra: Any) -> dict[str, Any]:
    return {
        "corp_id": CORP_ID,
        "agent_id": AGENT_ID,
        "secret": SECRET,
        "token": TOKEN,
        "aes_key": AES_KEY,
        "api_base": fake.base,
        "robot_hosts": [fake.base.removeprefix("http://")],
        **extra,
    }


@pytest.fixture
async def fake_wecom() -> AsyncIterator[FakeWeCom]:
    fake = FakeWeCom()
    await fake.start()
    yield fake
    await fake.stop()


@dataclass
class Service:
    http: httpx.AsyncClient
    runtime: Runtime
    connector: WeComConnector
    fake: FakeWeCom


@pytest.fixture
async def service(settings: Settings, fake_wecom: FakeWeCom) -> AsyncIterator[Service]:
    settings.wecom = wecom_section(fake_wecom)
    runtime = await open_runtime(settings)
    section = service_settings(runtime.settings).wecom
    assert section is not None
    connector = build(wecom_parts(runtime), section)
    assert connector is not None
    app = create_app(settings, runtime=runtime)
    router = connector.router()
    assert router is not None
    app.include_router(router)  # the registry entry is the lead's to add
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield Service(http, runtime, connector, fake_wecom)
    await connector.aclose()
    await runtime.close()
