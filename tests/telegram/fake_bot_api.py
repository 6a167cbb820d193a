"""A fake Telegram Bot API on 127.0.0.1 that speaks the real JSON, for aiogram to talk to.

In-process on aiohttp. It answers getMe, deleteWebhook, getUpdates (long polling over a
queue), sendMessage, answerCallbackQuery, editMessageReplyMarkup, getFile and the file
download, records every call with its form-encoded parameters, and can be told to fail the
next sends to a chat the way Telegram does (429 with parameters.retry_after, 403 blocked, 400
chat not found, 500).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 123456
TOKEN = f"{BOT_ID}:TEST-TOKEN"

FAILURES: dict[str, tuple[int, str, dict[str, Any] | None]] = {
    "flood": (429, "Too Many Requests: retry after 7", {"retry_after": 7}),
    "blocked": (403, "Forbidden: bot was blocked by the user", None),
    "not_found": (400, "Bad Request: chat not found", None),
    "bad_request": (400, "Bad Request: message text is empty", None),
    "server": (500, "Internal Server Error", None),
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]

    @property
    def markup(self) -> dict[str, Any] | None:
        raw = self.params.get("reply_markup")
        return json.loads(raw) if raw else None


@dataclass
class FakeBotApi:
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> content
    failures: dict[int, list[str]] = field(default_factory=dict)  # chat id -> next failures
    method_failures: dict[str, list[str]] = field(default_factory=dict)  # method -> next ones
    updates: list[dict[str, Any]] = field(default_factory=list)
    base: str = ""
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _message_id: int = 100

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._new_update.set()

    def fail_next(self, chat_id: int, *kinds: str) -> None:
        self.failures.setdefault(chat_id, []).extend(kinds)

    def fail_method(self, method: str, *kinds: str) -> None:
        """The next calls of `method` (any chat) fail as `kinds` say, one each."""
        self.method_failures.setdefault(method, []).extend(kinds)

    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]

    def texts(self, chat_id: int) -> list[str]:
        return [str(c.params["text"]) for c in self.sent(chat_id)]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.sent(method=method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fake Bot API: fewer than {count} {method} calls")
            await asyncio.sleep(0.02)
        return self.sent(method=method)

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        params = dict(await request.post()) if request.can_read_body else {}
        params.update(request.query)
        method = request.match_info["method"]
        self.calls.append(Call(method, params))
        if self.method_failures.get(method):
            status, description, parameters = FAILURES[self.method_failures[method].pop(0)]
            return _error(status, description, parameters)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if request.match_info["token"] != TOKEN or file_id not in self.files:
            return _error(404, "Not Found")
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "City 12345", "username": "city_bot"}

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 1.0)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending and wait:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), wait)
            except TimeoutError:
                return []
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return pending

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        queued = self.failures.get(chat_id)
        if queued:
            status, description, parameters = FAILURES[queued.pop(0)]
            return _error(status, description, parameters)
        self._message_id += 1
        message: dict[str, Any] = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "City 12345"},
            "text": params.get("text", ""),
        }
        markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": int(params["message_id"]),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "text": "edited",
        }

    async def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": f"photos/{file_id}",
        }


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
