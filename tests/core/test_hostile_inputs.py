"""Every route of the app, every channel mounted, fed hostile values: none may answer 5xx, and
nothing acknowledged may end up dead-lettered ("no 500 on any input").

Values go into path parameters, query parameters, headers and bodies: NUL (raw and `%00`),
broken percent-encoding and UTF-8, very long strings, non-ASCII, integers past 64 bits,
negative numbers and JSON of the wrong types. Staff routes get a valid token, the SMS routes
the gateway's secret and WeChat pushes a valid signature, so that the values reach the code
behind the checks; the pipeline runs alongside, as in `intake run`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import fastapi.routing
import httpx
import pytest
from fastapi.routing import APIRoute

from intake.config import Settings
from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.ingest.deadletter import list_dead
from intake.runtime import Runtime
from service.app import create_app
from tests.core.helpers import request_body
from tests.telegram.fake_bot_api import TOKEN as BOT_TOKEN
from tests.telegram.fake_bot_api import FakeBotApi
from tests.wechat.service import account_settings, text_push
from tests.wechat.wechat_helpers import TOKEN as WECHAT_TOKEN
from tests.wechat.wechat_helpers import sign

SMS_SECRET = "kannel-secret_1"
TG_SECRET = "tg-secret_token"

# already percent-encoded: put into URLs as they are
RAW_URL_VALUES = (
    "%00",
    "a%00b",
    "%01%1B%7F",
    "%C2%85",
    "%FF%FE",
    "%C3%28",
    "%ED%A0%80",  # an encoded lone surrogate
    "%ZZ",
    "%",
    "x" * 5000,
    quote("工单😀"),
    quote("１３８１２３４５６７８"),
    "9223372036854775808",
    "99999999999999999999999999",
    "9" * 5000,
    "-1",
    "0",
    "1e309",
    "NaN",
    "..%2F..%2Fetc%2Fpasswd",
    quote("' OR 1=1 --"),
    "%0D%0ASet-Cookie:%20x",
    quote("[]"),
    quote("{}"),
)
HEADER_VALUES: tuple[bytes, ...] = (
    b"\x00",
    b"\xff\xfe\xfd",
    "工单".encode(),
    b"x" * 8000,
    b"-1",
    b"99999999999999999999",
)
HEADER_NAMES = (
    "authorization",
    "idempotency-key",
    "content-type",
    "accept",
    "x-forwarded-for",
    "x-real-ip",
    "x-telegram-bot-api-secret-token",
    "content-length",
    "cookie",
)
JSON_BODIES: tuple[Any, ...] = (
    [],
    "text",
    1,
    None,
    {"phone": 1, "content": ["a"]},
    {"phone": "\u0000", "content": "\u0000" * 10, "name": "\u0000"},
    request_body(content="路灯\u0000坏了\u0085很久了\u001b", name="\u0000", address="\u0000"),
    request_body(latitude=1e308, longitude=-1e308),
    request_body(latitude="NaN", request_type="\u0000"),
    request_body(content="长" * 60000),
    {"text": {"a": 1}, "reason": ["x"], "days": 99999999999999999999999},
    {"text": "\u0000回复", "reason": "\u0000", "days": -1, "department": "\u0000" * 500},
    {"co_departments": "x", "department": 1},
    {"co_departments": ["\u0000"] * 1000},
    {"update_id": 2**70, "message": {"text": 1}},
    {"a": [[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]},
)
RAW_BODIES: tuple[tuple[bytes, str], ...] = (
    (b"", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b'{"phone": "\\ud800", "content": "\\udfff\\udfff\\udfff\\udfff\\udfff"}', "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b'{"days": 1e999}', "application/json"),
    (b"phone=%00&content=%00%00%00%00%00%00&name=%FF", "application/x-www-form-urlencoded"),
    (
        b"phone=13812345678&content=%E8%B7%AF%00%E7%81%AF%E5%9D%8F%E4%BA%86",
        "application/x-www-form-urlencoded",
    ),
    (b"%%%&&&===", "application/x-www-form-urlencoded"),
    (
        b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n",
        "multipart/form-data; boundary=x",
    ),
    (b"--x\r\n\r\n", "multipart/form-data"),
    (b"\x00\x01\x02", "text/xml"),
    (b"<xml><Content>\x00</Content></xml>", "text/xml"),
    (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<xml><Content>&b;</Content></xml>",
        "text/xml",
    ),
)
WECHAT_CONTENTS = (
    "路灯坏了\x85\x9f请修",
    "&#0;&#1;&#x1b;",
    "x" * 10000,
    "]]><MsgId>1</MsgId><![CDATA[",
)
TELEGRAM_UPDATES: tuple[dict[str, Any], ...] = (
    {"update_id": 2**70},
    {"update_id": -1, "message": None},
    {
        "update_id": 7001,
        "message": {
            "message_id": 2**63,
            "date": 99999999999999999999,
            "chat": {"id": 2**62, "type": "private"},
            "from": {"id": 2**62, "is_bot": False, "first_name": "\u0000"},
            "text": "路灯\u0000坏了\u0085请修\u001b",
        },
    },
    {
        "update_id": 7002,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": -5, "type": "private"},
            "from": {"id": -5, "is_bot": False, "first_name": "x" * 5000},
            "text": "\u0000" * 4096,
        },
    },
    {"update_id": 7003, "callback_query": {"id": "\u0000", "data": "\u0000" * 64}},
)
QUERY_NAMES = {  # what the routes read beyond the parameters they declare
    "/channels/sms/kannel": ("id", "from", "to", "text", "coding", "charset", "ts", "smsc"),
    "/channels/sms/dlr": ("ref", "status", "answer", "to", "ts"),
    "/channels/wechat": ("signature", "timestamp", "nonce", "echostr", "account", "openid"),
}


@dataclass
class Walk:
    http: httpx.AsyncClient
    runtime: Runtime
    staff_token: str
    path_defaults: dict[str, str] = field(default_factory=dict)  # valid values, by name
    failures: list[str] = field(default_factory=list)
    count: int = 0

    async def send(self, method: str, url: str, **kwargs: Any) -> None:
        headers = {"authorization": f"Bearer {self.staff_token}", **kwargs.pop("headers", {})}
        self.count += 1
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
        except Exception as exc:  # an exception escaping the app is a 500 for the client
            self.failures.append(f"{method} {url[:120]} {_brief(kwargs)}: raised {exc!r}"[:400])
            return
        if response.status_code >= 500 and not _deliberate(url, response):
            self.failures.append(
                f"{method} {url[:120]} {_brief(kwargs)}: {response.status_code} "
                f"{response.text[:200]}"
            )


def _deliberate(url: str, response: httpx.Response) -> bool:
    """The readiness check answers 503 by design: no pipeline process runs in this test."""
    return url.startswith("/readyz") and response.status_code == 503


def _brief(kwargs: dict[str, Any]) -> str:
    return repr({k: (v[:80] if isinstance(v, bytes | str) else v) for k, v in kwargs.items()})[:200]


@pytest.fixture
async def walk(settings: Settings) -> AsyncIterator[Walk]:
    fake = FakeBotApi()
    await fake.start()
    settings.limits.enabled = False  # the walk repeats itself on purpose
    settings.sms = {
        "provider": "kannel",
        "kannel_user": "kannel",
        "kannel_password": "pw",
        "inbound_secret": SMS_SECRET,
        "sender": "12345",
    }
    settings.wechat = account_settings(mode="plaintext", reply_wait_s=0.5)
    settings.telegram = {
        "token": BOT_TOKEN,
        "api_base": fake.base,
        "secret_token": TG_SECRET,
        "reply_wait_s": 0.5,
    }
    runtime = await Runtime.open(settings)
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name="李娜", role=Role.SUPERVISOR, department=None, catalog=runtime.catalog
        )
    app = create_app(settings, runtime=runtime)
    number = await _existing_ticket(app, runtime)
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="walk").run(stop))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as http:
            defaults = {"number": number, "action": "note", "token": "1-1-x"}
            yield Walk(http, runtime, token, defaults)
    finally:
        stop.set()
        await worker
        for connector in app.state.connectors.values():
            if hasattr(connector, "aclose"):
                await connector.aclose()
        await runtime.close()
        await fake.stop()


async def _existing_ticket(app: Any, runtime: Runtime) -> str:
    """A real ticket, so that lookups and actions reach the code behind "not found"."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post("/api/v1/requests", json=request_body())
    assert response.status_code == 201
    await runtime.pipeline_worker(consumer="seed").drain(limit_s=30)
    return str(response.json()["number"])


def _routes(walk: Walk) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path template, path parameters, query parameters) of every route."""
    app: Any = walk.http._transport.app  # type: ignore[attr-defined]
    found = []
    for route in _flat(app.routes):
        path = getattr(route, "path", None)
        if not path:
            continue
        original = getattr(route, "original_route", route)
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        query: list[str] = list(QUERY_NAMES.get(path, ()))
        if isinstance(original, APIRoute):
            query += [p.alias for p in original.dependant.query_params]
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        found += [(m, path, params, query) for m in methods if m != "HEAD"]
    paths = {path for _, path, _, _ in found}
    assert {"/api/v1/requests", "/channels/telegram", "/channels/sms/kannel"} <= paths
    assert {"/channels/wechat", "/api/v1/tickets/{number}", "/r/{token}", "/status"} <= paths
    return found


def _flat(routes: list[Any]) -> Iterable[Any]:
    """Included routers as the routes they hold (FastAPI includes them lazily)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return flatten(routes) if flatten else routes


def _fill(walk: Walk, path: str, params: list[str], target: str = "", value: str = "") -> str:
    """The path with `value` for the parameter `target` and a valid value for the others."""
    for name in params:
        chosen = value if name == target else walk.path_defaults.get(name, "1")
        path = re.sub(r"{" + name + r"(?::\w+)?}", chosen, path)
    return path


def _base_query(path: str) -> dict[str, str]:
    if path.startswith("/channels/sms/"):
        return {
            "secret": SMS_SECRET,
            "from": "%2B8613912345678",
            "id": f"walk-{secrets.token_hex(4)}",
            "text": "hello",
            "ref": "job-1",
            "status": "1",
        }
    if path == "/channels/wechat":
        ts, nonce = str(int(time.time())), secrets.token_hex(6)
        return {"signature": sign(WECHAT_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    return {}


def _url(path: str, query: dict[str, str]) -> str:
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


async def _walk_paths_and_queries(walk: Walk) -> None:
    for method, path, params, query_names in _routes(walk):
        for target in params:
            for value in RAW_URL_VALUES:
                url = _url(_fill(walk, path, params, target, value), _base_query(path))
                await walk.send(method, url)
        for name in query_names:
            for value in RAW_URL_VALUES:
                query = {**_base_query(path), name: value}
                await walk.send(method, _url(_fill(walk, path, params), query))


async def _walk_headers(walk: Walk) -> None:
    values = itertools.cycle(HEADER_VALUES)  # each route gets each header, with a share of values
    for method, path, params, _ in _routes(walk):
        url = _url(_fill(walk, path, params), _base_query(path))
        for name in HEADER_NAMES:
            await walk.send(method, url, headers={name: next(values)}, content=b"{}")


async def _walk_bodies(walk: Walk) -> None:
    for method, path, params, _ in _routes(walk):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        url = _url(_fill(walk, path, params), _base_query(path))
        for body in JSON_BODIES:  # the standard library's JSON: orjson refuses 2**70
            content = json.dumps(body).encode()
            await walk.send(method, url, content=content, headers=_json_headers())
        for raw, content_type in RAW_BODIES:
            await walk.send(method, url, content=raw, headers={"content-type": content_type})


def _json_headers() -> dict[str, str]:
    return {"content-type": "application/json", "x-telegram-bot-api-secret-token": TG_SECRET}


async def _walk_channel_payloads(walk: Walk) -> None:
    for n, content in enumerate(WECHAT_CONTENTS):
        xml = text_push(content, msg_id=str(10**30 + n))
        await walk.send(
            "POST", _url("/channels/wechat", _base_query("/channels/wechat")), content=xml
        )
    for update in TELEGRAM_UPDATES:
        await walk.send("POST", "/channels/telegram", json=update, headers=_json_headers())


async def test_no_route_answers_5xx_to_hostile_input(walk: Walk) -> None:
    await _walk_paths_and_queries(walk)
    await _walk_headers(walk)
    await _walk_bodies(walk)
    await _walk_channel_payloads(walk)
    assert not walk.failures, f"{len(walk.failures)} of {walk.count}:\n" + "\n".join(
        walk.failures[:40]
    )
    await walk.runtime.pipeline_worker(consumer="walk-drain").drain(limit_s=60)
    dead = await list_dead(walk.runtime.redis.client, walk.runtime.redis.keys)
    assert dead == [], [d.reason for d in dead]
