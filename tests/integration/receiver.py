"""A department's test receiver: a real aiohttp server on 127.0.0.1 that checks each
delivery's signature as a department would (recomputed, constant-time compared) and can be
told to refuse."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Receiver:
    secret: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    refuse: int = 0  # refuse this many deliveries with HTTP 503
    refuse_all: bool = False
    bad_signatures: int = 0
    delay_s: float = 0.0  # answer slowly: a worker can be killed in the middle
    deliveries: int = 0  # every POST, duplicates included

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.deliveries += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        timestamp = request.headers["X-Intake-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(
                self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers["X-Intake-Signature"]):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.refuse_all or self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=503)
        event_id = request.headers["X-Intake-Event-Id"]
        if event_id not in self.seen_ids:  # at least once: a receiver drops what it has seen
            self.seen_ids.add(event_id)
            self.received.append(json.loads(body))
        return web.Response(status=204)

    def kinds(self, number: str) -> list[str]:
        return [r["event"]["kind"] for r in self.received if r["ticket"]["number"] == number]


@asynccontextmanager
async def running_receiver(secret: str) -> AsyncIterator[Receiver]:
    receiver = Receiver(secret=secret)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()
