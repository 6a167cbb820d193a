"""The SMS closed loop through the real Kannel (bearerbox + smsbox + fake SMSC + fakesmsc).

A Chinese MO becomes a ticket with the right text; the notifier's acknowledgement goes out
through KannelSender and reaches fakesmsc in UCS-2; Kannel's DLR comes back to
/channels/sms/dlr and is recorded on the ticket's delivery, visible to staff; after two tickets
of the number are closed and surveyed (time moved by the test clock), a reply "2" answers the
prompt of the latest one and is thanked by SMS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_from_bytes

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from intake.config import Settings
from intake.domain.enums import Role
from intake.domain.models import Ticket
from intake.runtime import Runtime
from notifier.models import Delivery, Prompt
from notifier.service import Notifier
from service.app import create_app
from service.wiring import notifier_parts
from tests.notifier.conftest import NOTIFY, FakeClock
from tests.notifier.helpers import staff

from .kannel_peer import PASSWORD, SECRET, USER, KannelPeer, free_port, start_kannel, texts_to

pytestmark = pytest.mark.integration
T = TypeVar("T")
PHONE = "+8613912345670"
SIGNED = "【12345热线】"


@dataclass
class Loop:
    runtime: Runtime
    peer: KannelPeer
    notifier: Notifier
    api: httpx.AsyncClient
    clock: FakeClock

    def mo(self, text: str) -> None:
        data = quote_from_bytes(text.encode("utf-16-be"), safe="")
        self.peer.inject_mo(f"{PHONE} 12345 ucs2 {data}")

    async def sms(self, pred: Callable[[str], bool]) -> str:
        """The first whole SMS to PHONE that fakesmsc received and `pred` accepts."""

        async def found() -> str | None:
            await self.notifier.run_due()  # e.g. the instant reply to an answer
            return next((t for t in texts_to(self.peer.mt_lines, PHONE) if pred(t)), None)

        return await until(found)


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
async def loop(settings: Settings, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Loop]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    peer = await asyncio.to_thread(start_kannel, tmp_path / "kannel", callback_base=base)
    sms = {
        "provider": "kannel",
        "kannel_url": peer.kannel_url,
        "kannel_user": USER,
        "kannel_password": PASSWORD,
        "inbound_secret": SECRET,
        "sender": "12345",
        "signature": "12345热线",
        "public_url": base,
        "max_segments": 5,
    }
    configured = settings.model_copy(update={"notify": dict(NOTIFY), "sms": sms})
    runtime = await Runtime.open(configured, clock=clock)
    app = create_app(configured, runtime=runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="e2e").run(stop))
    notifier = Notifier(notifier_parts(runtime), {"sms": app.state.connectors["sms"].sender()})
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=base) as api:
            yield Loop(runtime, peer, notifier, api, clock)
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.gather(serving, worker)
        await notifier.close()
        await asyncio.to_thread(peer.stop)
        await runtime.close()


async def ticket_with(runtime: Runtime, text: str) -> Ticket | None:
    async with runtime.db.read() as session:
        return await session.scalar(select(Ticket).where(Ticket.content == text))


async def delivered(loop: Loop, job_key: str) -> Delivery | None:
    """Poll the notifier (DLRs on the stream) until the delivery carries a final report."""
    await loop.notifier.run_due()
    async with loop.runtime.db.read() as session:
        row = await session.scalar(select(Delivery).where(Delivery.job_key == job_key))
    return row if row is not None and row.report_state == "delivered" else None


async def act(loop: Loop, number: str, action: str, token: dict[str, str], **body: Any) -> None:
    url = f"/api/v1/tickets/{number}/actions/{action}"
    response = await loop.api.post(url, json=body, headers=token)
    assert response.status_code == 200, response.text


async def open_and_close(loop: Loop, text: str, agent: dict[str, str]) -> Ticket:
    """A Chinese MO through Kannel → ticket → ack SMS in UCS-2 → DLR → closed by an agent."""
    loop.mo(text)
    ticket = await until(lambda: ticket_with(loop.runtime, text))
    assert ticket.channel == "sms" and ticket.contact_phone == PHONE
    await loop.notifier.run_due()
    ack = await loop.sms(lambda t: ticket.number in t and "查询码" in t)
    assert ack == (
        f"{SIGNED}您的诉求已受理，工单编号：{ticket.number}，查询码：{ticket.query_code}。"
        "我们将按时限办理；回复“查询”可了解进度。"
    )
    row = await until(lambda: delivered(loop, f"ack:{ticket.number}"))
    assert row.channel == "sms" and row.status == "sent" and row.report_mask & 1
    await act(loop, ticket.number, "accept", agent)
    await act(loop, ticket.number, "close", agent, text="已联系物业，电梯已修复。")
    await loop.notifier.run_due()
    await loop.sms(lambda t: ticket.number in t and "已办结" in t)
    return ticket


async def test_sms_closed_loop_through_kannel(loop: Loop) -> None:
    _, agent = await staff(loop.runtime, Role.AGENT)
    first = await open_and_close(loop, "幸福小区3号楼  电梯坏了，\n老人上不了楼！", agent)
    mt_lines = [line for line in loop.peer.mt_lines if PHONE in line]
    assert any(" ucs-2 " in line for line in mt_lines)  # a single-part Chinese MT
    detail = (await loop.api.get(f"/api/v1/tickets/{first.number}", headers=agent)).json()
    reports = {e["data"]["job_key"]: e for e in detail["events"] if e["kind"] == "delivery_report"}
    report = reports[f"ack:{first.number}"]  # (and the closure message's, once delivered)
    assert report["data"]["state"] == "delivered" and report["data"]["final"] is True
    assert report["public"] is False and report["data"]["recipient"] == "+86139****5670"

    loop.clock.advance(minutes=10)
    latest = await open_and_close(loop, "建设路口的红绿灯不亮了，很危险", agent)
    assert latest.number != first.number

    loop.clock.advance(hours=1, minutes=50)  # 2 h after the first closure: its survey only
    await loop.notifier.run_due()
    await loop.sms(lambda t: first.number in t and "回访码" in t)
    loop.clock.advance(minutes=10)
    await loop.notifier.run_due()
    survey = await loop.sms(lambda t: latest.number in t and "回访码" in t)
    assert "请回复：1 满意，2 基本满意，3 不满意" in survey and survey.startswith(SIGNED)

    loop.mo("2")
    thanks = await loop.sms(lambda t: "感谢您的评价" in t and latest.number in t)
    assert thanks == f"{SIGNED}感谢您的评价！工单 {latest.number} 的回访已记录。"
    async with loop.runtime.db.read() as session:
        prompts = {p.ticket_id: p for p in await session.scalars(select(Prompt))}
    assert prompts[latest.id].status == "answered" and prompts[latest.id].answer is not None
    assert prompts[latest.id].answer["rating"] == "basic"
    assert prompts[first.id].status == "pending"  # only the latest closed ticket's prompt
    detail = (await loop.api.get(f"/api/v1/tickets/{latest.number}", headers=agent)).json()
    (rated,) = [e for e in detail["events"] if e["kind"] == "rated"]
    assert rated["data"]["rating"] == "basic" and rated["data"]["channel"] == "sms"
