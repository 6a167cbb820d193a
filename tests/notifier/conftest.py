"""Notifier fixtures: a controlled clock, a runtime on it, recording senders, a real SMTP server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from channels.base import OutboundMessage, SendResult
from intake.config import Settings
from intake.runtime import Runtime
from notifier import models as _notifier_models  # noqa: F401  (tables' metadata)
from notifier.service import Notifier
from service.app import create_app
from service.wiring import notifier_parts, open_runtime

# 10:00 in Shanghai: outside the quiet hours
START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Recorder:
    """A Sender test double: records messages; `script` decides each call's fate."""

    channel: str
    sent: list[OutboundMessage] = field(default_factory=list)
    calls: int = 0
    script: Callable[[OutboundMessage, int], None] | None = None

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.script is not None:
            self.script(message, self.calls)
        self.sent.append(message)
        return SendResult(provider_id=f"{self.channel}-{len(self.sent)}")


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class MailHandler:
    received: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[MailHandler, int]]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


NOTIFY = {
    "survey_delay": "2h",
    "quiet_hours": "21:00-08:00",
    "rating_expiry": "3d",
    "reminder_before": "1d",
    "retry_base": "30s",
    "retry_max": "10m",
    "max_attempts": 4,
    "claim_idle_ms": 200,
    "block_ms": 10,
    "rates": {"sms": {"rate": 1000, "burst": 1000}, "email": {"rate": 1000, "burst": 1000}},
    "recipient_rate": {"rate": 1, "burst": 100},
    "passive_ack_grace": {},  # the tests that need it set it themselves
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def nruntime(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(update={"notify": dict(NOTIFY)})
    rt = await open_runtime(configured, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture
async def http(nruntime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(nruntime.settings, runtime=nruntime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def senders() -> dict[str, Recorder]:
    return {"sms": Recorder("sms"), "wechat": Recorder("wechat"), "email": Recorder("email")}


@pytest.fixture
async def make_notifier(nruntime: Runtime) -> AsyncIterator[Callable[..., Notifier]]:
    opened: list[Notifier] = []

    def make(senders: dict[str, Any]) -> Notifier:
        made = Notifier(notifier_parts(nruntime), senders)
        opened.append(made)
        return made

    yield make
    for made in opened:
        await made.close()
