"""A small fake of api.weixin.qq.com for the sender tests, served by uvicorn on 127.0.0.1.

It answers with WeChat's JSON
shapes and error codes: /cgi-bin/token and /cgi-bin/stable_token issue tokens (only the latest
one is valid, as after a real refresh once the grace period is over: 40001 otherwise; a token
marked expired gives 42001), /cgi-bin/message/custom/send and template/send deliver or
answer a scripted errcode per recipient, and /cgi-bin/media/get serves uploaded media (an
unknown media id gets errcode 40007 as JSON labelled text/plain, as the real API does).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_ID = "wx_city_0001"
SECRET = "city-secret"


@dataclass
class FakeWeChat:
    """Per-test state: what was asked, what to answer."""

    token_delay: float = 0.0
    current_token: str | None = None
    expired: set[str] = field(default_factory=set)
    # recipient openid -> errcodes (or "http500") to answer, one per call, before succeeding
    scripted: dict[str, list[int | str]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # id -> (bytes, type)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _msgids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def token_fetches(self) -> int:
        return sum(
            1 for c in self.calls if c["path"] in ("/cgi-bin/token", "/cgi-bin/stable_token")
        )

    def expire_current_token(self) -> None:
        assert self.current_token
        self.expired.add(self.current_token)

    async def issue_token(self, appid: str, secret: str) -> dict[str, Any]:
        if appid != APP_ID:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if secret != SECRET:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        await asyncio.sleep(self.token_delay)
        self.current_token = f"FAKE_TOKEN_{next(self._tokens)}"
        return {"access_token": self.current_token, "expires_in": 7200}

    def check_token(self, token: str) -> dict[str, Any] | None:
        if token in self.expired:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if token != self.current_token:
            return {
                "errcode": 40001,
                "errmsg": "invalid credential, access_token is invalid or not latest",
            }
        return None

    def scripted_answer(self, touser: str) -> dict[str, Any] | str | None:
        queue = self.scripted.get(touser)
        if not queue:
            return None
        code = queue.pop(0)
        if code == "http500":
            return "http500"
        return {"errcode": code, "errmsg": f"scripted {code}"}


class Holder:
    fake = FakeWeChat()


async def _token(request: Request) -> Response:
    q = request.query_params
    Holder.fake.calls.append({"path": "/cgi-bin/token", "query": dict(q)})
    if q.get("grant_type") != "client_credential":
        return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
    return JSONResponse(await Holder.fake.issue_token(q.get("appid", ""), q.get("secret", "")))


async def _stable_token(request: Request) -> Response:
    body = await request.json()
    Holder.fake.calls.append({"path": "/cgi-bin/stable_token", "body": body})
    return JSONResponse(
        await Holder.fake.issue_token(body.get("appid", ""), body.get("secret", ""))
    )


async def _send(request: Request) -> Response:
    fake, path = Holder.fake, request.url.path
    body = await request.json()
    token = request.query_params.get("access_token", "")
    fake.calls.append({"path": path, "body": body, "access_token": token})
    refused = fake.check_token(token)
    if refused:
        return JSONResponse(refused)
    answer = fake.scripted_answer(str(body.get("touser", "")))
    if answer == "http500":
        return Response("upstream error", status_code=502)
    if answer is not None:
        return JSONResponse(answer)
    if not body.get("touser"):
        return JSONResponse({"errcode": 40003, "errmsg": "invalid openid"})
    fake.delivered.append({"path": path, "body": body})
    if path.endswith("/template/send"):
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": next(fake._msgids)})
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


async def _media_get(request: Request) -> Response:
    fake, query = Holder.fake, request.query_params
    fake.calls.append({"path": "/cgi-bin/media/get", "query": dict(query)})
    refused = fake.check_token(query.get("access_token", ""))
    if refused:
        return JSONResponse(refused)
    found = fake.media.get(query.get("media_id", ""))
    if found is None:
        body = b'{"errcode":40007,"errmsg":"invalid media_id hint: [fake]"}'
        return Response(body, media_type="text/plain")
    data, content_type = found
    headers = {"Content-disposition": f'attachment; filename="{query["media_id"]}"'}
    return Response(data, media_type=content_type, headers=headers)


app = Starlette(
    routes=[
        Route("/cgi-bin/media/get", _media_get, methods=["GET"]),
        Route("/cgi-bin/token", _token, methods=["GET"]),
        Route("/cgi-bin/stable_token", _stable_token, methods=["POST"]),
        Route("/cgi-bin/message/custom/send", _send, methods=["POST"]),
        Route("/cgi-bin/message/template/send", _send, methods=["POST"]),
    ]
)


class FakeServer:
    """uvicorn in a daemon thread on a free loopback port."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake WeChat API did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
