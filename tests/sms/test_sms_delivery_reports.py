"""Delivery reports through `GET /channels/sms/dlr` into the notifier: recorded once per state
on the delivery and as a staff-visible ticket event, unordered and duplicated callbacks
included; a final failure falls back (next route, or a call-back task)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.runtime import Runtime
from notifier.delivery_reports import DeliveryReports
from notifier.models import Delivery
from notifier.service import Notifier
from service.app import create_app
from service.wiring import notifier_parts
from tests.notifier.conftest import NOTIFY, FakeClock, Recorder
from tests.notifier.helpers import PHONE, delivery, events, new_ticket, staff

SECRET = "dlr-test-secret"
SMS = {
    "provider": "kannel",
    "kannel_url": "http://127.0.0.1:9",  # never called: the notifier gets recording senders
    "kannel_user": "tester",
    "kannel_password": "foobar",
    "inbound_secret": SECRET,
    "sender": "12345",
    "public_url": "http://127.0.0.1:8000",
}
HANDLER_PHONE = "+8613900000001"
HANDLER_MAIL = "handler@env.example.test"


@pytest.fixture
async def rt(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(update={"notify": dict(NOTIFY), "sms": dict(SMS)})
    runtime = await Runtime.open(configured, clock=clock)
    yield runtime
    await runtime.close()


@pytest.fixture
async def api(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(rt.settings, runtime=rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def notifier(rt: Runtime, senders: dict[str, Recorder]) -> AsyncIterator[Notifier]:
    made = Notifier(notifier_parts(rt), dict[str, Any](senders))
    yield made
    await made.close()


async def dlr(api: httpx.AsyncClient, ref: str, status: int, answer: str = "") -> None:
    """Kannel calling our dlr-url (the README's shape)."""
    query = {"secret": SECRET, "ref": ref, "status": status, "answer": answer}
    query |= {"to": PHONE, "ts": "1773108000"}
    response = await api.get(f"/channels/sms/dlr?{urlencode(query)}")
    assert response.status_code == 200, response.text


async def sms_ticket(rt: Runtime, notifier: Notifier) -> str:
    number = await new_ticket(rt, channel="sms")
    await notifier.run_due()
    row = await delivery(rt, f"ack:{number}")
    assert row is not None and row.status == "sent" and row.channel == "sms"
    return number


async def test_states_recorded_once_on_delivery_and_ticket(
    rt: Runtime, api: httpx.AsyncClient, notifier: Notifier
) -> None:
    number = await sms_ticket(rt, notifier)
    ref = f"ack:{number}"
    await dlr(api, ref, 1)  # unordered: the final "delivered" before the SMSC's ACK
    await dlr(api, ref, 8, "ACK/")
    await dlr(api, ref, 1)  # a repeated callback
    await notifier.run_due()
    row = await delivery(rt, ref)
    assert row is not None and row.report_state == "delivered" and row.report_mask == 1 | 8
    assert row.status == "sent" and row.reported_at == rt.clock()
    (report,) = await events(rt, number, "delivery_report")
    assert report.public is False and report.data["state"] == "delivered"
    assert report.published  # one per SMS: kept off the domain-event stream
    assert report.data["job_key"] == ref and report.data["final"] is True
    assert report.data["recipient"] == "+86138****5678"

    stream = rt.redis.keys.delivery_reports
    await rt.redis.client.xadd(stream, {"ref": ref, "state": "delivered", "final": "1"})
    await notifier.run_due()  # at-least-once: a redelivered report writes nothing
    assert len(await events(rt, number, "delivery_report")) == 1
    assert await rt.redis.client.xlen(stream) == 0  # settled entries leave the stream


async def test_buffered_then_failed_falls_back_to_a_callback_task(
    rt: Runtime, api: httpx.AsyncClient, notifier: Notifier, senders: dict[str, Recorder]
) -> None:
    number = await sms_ticket(rt, notifier)
    ref = f"ack:{number}"
    await dlr(api, ref, 4)
    await dlr(api, ref, 2, "id:1 stat:UNDELIV err:001")
    await dlr(api, ref, 4)  # late intermediate: the final state stands
    await notifier.run_due()
    buffered = await events(rt, number, "delivery_report")
    assert [e.data["state"] for e in buffered] == ["buffered"]
    (failed,) = await events(rt, number, "delivery_failed")
    assert failed.data["state"] == "failed" and "stat:UNDELIV" in failed.data["error"]
    (task,) = await events(rt, number, "note")
    assert task.data["task"] == "callback_by_phone" and "电话回访" in (task.text or "")
    row = await delivery(rt, ref)
    assert row is not None and row.status == "failed" and row.report_state == "failed"
    assert "UNDELIV" in (row.report_detail or "")
    assert senders["sms"].calls == 1  # the failed SMS is not sent again
    published = [f["kind"] for _, f in await rt.redis.client.xrange(rt.redis.keys.events)]
    assert "delivery_failed" in published and "delivery_report" not in published

    await dlr(api, ref, 16)  # another final failure: recorded, no second task
    await notifier.run_due()
    assert len(await events(rt, number, "note")) == 1
    assert len(await events(rt, number, "delivery_failed")) == 2


async def test_failed_staff_sms_falls_back_to_their_email(
    rt: Runtime,
    api: httpx.AsyncClient,
    notifier: Notifier,
    senders: dict[str, Recorder],
) -> None:
    _, agent = await staff(rt, Role.AGENT)
    contact = {"sms": HANDLER_PHONE, "email": HANDLER_MAIL, "prefer": ["sms", "email"]}
    await staff(rt, Role.HANDLER, "environment", contact)
    number = await new_ticket(rt, channel="email")
    for action, body in (("accept", {}), ("dispatch", {"department": "environment"})):
        url = f"/api/v1/tickets/{number}/actions/{action}"
        assert (await api.post(url, json=body, headers=agent)).status_code == 200
    await notifier.run_due()
    (alert,) = [m for m in senders["sms"].sent if m.recipient.value == HANDLER_PHONE]
    assert not [m for m in senders["email"].sent if m.recipient.value == HANDLER_MAIL]

    await dlr(api, alert.job_key, 16, "rejected by operator")
    await notifier.run_due()
    (mail,) = [m for m in senders["email"].sent if m.recipient.value == HANDLER_MAIL]
    assert mail.job_key == alert.job_key and number in mail.text
    row = await delivery(rt, alert.job_key)
    assert row is not None and row.status == "sent" and row.channel == "email"
    assert row.report_state == "rejected"


async def test_instant_reply_reports_land_on_the_message_ticket(
    rt: Runtime, api: httpx.AsyncClient, notifier: Notifier, senders: dict[str, Recorder]
) -> None:
    number = await sms_ticket(rt, notifier)
    follow_up = InboundMessage(
        channel="sms",
        external_id="kannel-uuid-2",
        sender=SenderIdentity(IdentityKind.PHONE, PHONE),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text="补充一下：晚上十点以后油烟最严重",
    )
    await rt.gateway.submit(follow_up)
    await rt.pipeline_worker(consumer="t").drain(limit_s=30)
    await notifier.run_due()
    (reply,) = [m for m in senders["sms"].sent if m.job_key == "reply:sms:kannel-uuid-2"]
    await dlr(api, reply.job_key, 2, "stat:EXPIRED")
    await dlr(api, "reply:sms:no-such-message", 1)
    await notifier.run_due()
    row = await delivery(rt, reply.job_key)
    assert row is not None and row.template == "instant_reply" and row.status == "failed"
    assert row.recipient == "+86138****5678" and row.report_state == "failed"
    (failed,) = await events(rt, number, "delivery_failed")
    assert failed.data["job_key"] == reply.job_key and "EXPIRED" in failed.data["error"]
    assert await events(rt, number, "note") == []  # shown to staff, no call-back task
    async with rt.db.read() as session:
        refs = set(await session.scalars(select(Delivery.job_key)))
    assert "reply:sms:no-such-message" not in refs


async def test_a_report_ahead_of_its_send_record_waits(
    rt: Runtime, api: httpx.AsyncClient, notifier: Notifier, senders: dict[str, Recorder]
) -> None:
    number = await new_ticket(rt, channel="sms")
    ref = f"ack:{number}"
    await dlr(api, ref, 1)  # the SMSC was faster than our own record of the send
    await dlr(api, "foreign-ref", 1)
    refused = await api.get(f"/channels/sms/dlr?secret={SECRET}&ref=x&status=99")
    assert refused.status_code == 422  # not a DLR value: refused at the edge
    stream = rt.redis.keys.delivery_reports
    await rt.redis.client.xadd(stream, {"ref": "x", "state": "exploded"})
    assert await notifier.reports.poll() == 1  # only the malformed entry is settled
    assert await delivery(rt, ref) is None

    strict = DeliveryReports(
        redis=rt.redis.client,
        keys=rt.redis.keys,
        db=rt.db,
        jc=notifier.jc,
        grace_s=0.0,
        consumer="strict",
    )
    await notifier.run_due()  # the send is recorded; the waiting report is due again soon

    async def settled() -> bool:
        await strict.poll()  # pending entries are claimable after `claim_idle_ms`
        return await rt.redis.client.xlen(stream) == 0

    await _until(settled)
    row = await delivery(rt, ref)
    assert row is not None and row.report_state == "delivered" and row.status == "sent"
    assert len(await events(rt, number, "delivery_report")) == 1


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
