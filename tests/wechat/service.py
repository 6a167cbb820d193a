"""The service with a WeChat account and a running pipeline, and pushes as WeChat sends them."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import xmltodict

from channels.wechat.connector import WeChatConnector
from intake.config import Settings
from intake.domain.clock import utcnow
from intake.runtime import Runtime
from service.app import create_app
from service.wiring import open_runtime
from tests.wechat.wechat_helpers import (
    APP_ID,
    KEY_CURRENT,
    KEY_PREVIOUS,
    ORIGINAL_ID,
    TOKEN,
    plain_post,
)


@dataclass
class ShiftedClock:
    """Real time plus an offset that a test moves forward instead of sleeping."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class Service:
    client: httpx.AsyncClient
    runtime: Runtime
    clock: ShiftedClock

    @property
    def connector(self) -> WeChatConnector:
        app: Any = self.client._transport.app  # type: ignore[attr-defined]
        connector: WeChatConnector = app.state.connectors["wechat"]
        return connector


def account_settings(**extra: Any) -> dict[str, Any]:
    return {
        "app_id": APP_ID,
        "app_secret": "city-secret",
        "token": TOKEN,
        "aes_key": KEY_CURRENT,
        "aes_key_previous": KEY_PREVIOUS,
        "original_id": ORIGINAL_ID,
        "mode": "compatible",
        "api_base": "http://127.0.0.1:9",
        "fetch_media": False,
        **extra,
    }


@asynccontextmanager
async def wechat_service(settings: Settings, **extra: Any) -> AsyncIterator[Service]:
    """`create_app` with the WeChat channel and a pipeline worker, as `intake run` wires them."""
    settings.wechat = account_settings(**extra)
    clock = ShiftedClock()
    runtime = await open_runtime(settings, clock=clock)
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="wx").run(stop))
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Service(client, runtime, clock)
    finally:
        stop.set()
        await worker
        await runtime.close()


def push_xml(
    msg_type: str,
    body: str,
    *,
    openid: str = "o_user1",
    msg_id: str | None = None,
    ts: int | None = None,
) -> str:
    tail = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{ts or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>{body}{tail}</xml>"
    )


def text_push(content: str, msg_id: str, openid: str = "o_user1") -> str:
    body = f"<Content><![CDATA[{content}]]></Content>"
    return push_xml("text", body, msg_id=msg_id, openid=openid)


def location_push(
    msg_id: str, *, lat: float, lng: float, label: str, openid: str = "o_user1"
) -> str:
    body = (
        f"<Location_X>{lat}</Location_X><Location_Y>{lng}</Location_Y><Scale>15</Scale>"
        f"<Label><![CDATA[{label}]]></Label>"
    )
    return push_xml("location", body, msg_id=msg_id, openid=openid)


def click_push(key: str, *, openid: str = "o_user1", ts: int | None = None) -> str:
    body = f"<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey>"
    return push_xml("event", body, openid=openid, ts=ts)


async def post(client: httpx.AsyncClient, xml: str) -> str:
    """The passive reply's text ('' for `success`), checking the answer came in time. Each
    push has a nonce of its own, as WeChat signs them (a nonce is good for one message)."""
    nonce = str(secrets.randbelow(10**10))
    params, body = plain_post(xml, timestamp=int(time.time()), nonce=nonce)
    started = time.monotonic()
    response = await client.post("/channels/wechat", params=params, content=body)
    assert time.monotonic() - started < 5.0, "outside WeChat's 5-second window"
    assert response.status_code == 200, response.text
    if response.text == "success":
        return ""
    return str(xmltodict.parse(response.text)["xml"]["Content"])
