"""A fake WeCom (企业微信) server API on 127.0.0.1 that answers as the documented one does.

`GET /cgi-bin/gettoken?corpid&corpsecret` → `{errcode, errmsg, access_token, expires_in}`
(40001 for a wrong secret); `POST /cgi-bin/message/send?access_token` → `{errcode, errmsg,
invaliduser, msgid, response_code}` with 40014 for an unknown token, 42001 for an expired
one, 81013 when every recipient is unknown, 42014 for a button card whose task id was used;
`POST /cgi-bin/webhook/send?key` (group robots) → `{errcode, errmsg}`, 93000 for an unknown
key. Failures can be queued per user (`fail(user, 45009, ...)`) to play rate limits, "system
busy" and the like. Every call is recorded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CORP_ID = "wwcorp0123456789"
SECRET = "app-secret-for-tests"
AGENT_ID = 1000002
ROBOT_KEY = "robot-key-0001"

ERRMSG = {
    -1: "system busy",
    40001: "invalid secret",
    40014: "invalid access_token",
    42001: "access_token expired",
    42014: "taskid has existed or empty or exceed max len",
    45009: "api freq out of limit",
    60111: "userid not found",
    81013: "user & party & tag all invalid",
    93000: "invalid webhook url",
}


@dataclass
class FakeWeCom:
    users: set[str] = field(default_factory=set)
    robot_keys: set[str] = field(default_factory=lambda: {ROBOT_KEY})
    messages: list[dict[str, Any]] = field(default_factory=list)
    robot_posts: list[dict[str, Any]] = field(default_factory=list)
    token_fetches: int = 0
    failures: dict[str, list[int]] = field(default_factory=dict)
    base: str = ""
    _valid: set[str] = field(default_factory=set)
    _expired: set[str] = field(default_factory=set)
    _tasks: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_post("/cgi-bin/webhook/send", self._robot)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, user: str, *codes: int) -> None:
        self.failures.setdefault(user, []).extend(codes)

    def expire_tokens(self) -> None:
        self._expired |= self._valid
        self._valid.clear()

    def to(self, user: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("touser") == user]

    @staticmethod
    def _answer(code: int, **extra: Any) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": ERRMSG.get(code, "ok"), **extra})

    async def _gettoken(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("corpid") != CORP_ID or q.get("corpsecret") != SECRET:
            return self._answer(40001)
        self.token_fetches += 1
        token = f"token-{self.token_fetches}"
        self._valid.add(token)
        return self._answer(0, access_token=token, expires_in=7200)

    def _token_problem(self, request: web.Request) -> int:
        token = request.query.get("access_token", "")
        if token in self._valid:
            return 0
        return 42001 if token in self._expired else 40014

    async def _send(self, request: web.Request) -> web.Response:
        problem = self._token_problem(request)
        if problem:
            return self._answer(problem)
        body = await request.json()
        if body.get("agentid") != AGENT_ID or body.get("msgtype") not in body:
            return self._answer(40008)
        user = str(body.get("touser", ""))
        queued = self.failures.get(user)
        if queued:
            return self._answer(queued.pop(0))
        if user.lower() not in {u.lower() for u in self.users}:
            return self._answer(81013, invaliduser=user.lower())
        extra: dict[str, Any] = {"invaliduser": "", "msgid": f"msg{next(self._ids)}"}
        if body["msgtype"] == "template_card":
            task = body["template_card"].get("task_id", "")
            if not task or task in self._tasks:
                return self._answer(42014)
            self._tasks.add(task)
            extra["response_code"] = f"rc-{task}"
        self.messages.append(body)
        return self._answer(0, **extra)

    async def _robot(self, request: web.Request) -> web.Response:
        if request.query.get("key") not in self.robot_keys:
            return self._answer(93000)
        self.robot_posts.append(await request.json())
        return self._answer(0)
