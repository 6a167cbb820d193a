"""The per-address cap on automatic e-mail (loop guard), against a real SMTP server and Redis:
acknowledgements and instant replies beyond N an hour / a day are not sent; mail a person
caused is not counted; a failed send gives its place back; concurrent senders never exceed
the cap; and the notifier records a capped acknowledgement as skipped, without SMS fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from sqlalchemy import select

from channels.base import OutboundMessage
from channels.email.cap import AutoReplyCap
from channels.email.connector import EmailConnector
from channels.email.sender import SmtpSender, SmtpSettings
from channels.email.settings import EmailSettings
from intake.config import Settings
from intake.domain.errors import SendSkipped, TransientSendError
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Ticket
from intake.redis.keys import Keys
from intake.runtime import Runtime
from notifier import models as _notifier_models  # noqa: F401  (tables' metadata)
from notifier.service import Notifier
from service.connectors import email_parts
from service.wiring import notifier_parts
from tests.conftest import REDIS_URL
from tests.email.dovecot_peer import free_port
from tests.notifier.conftest import NOTIFY, FakeClock, Recorder
from tests.notifier.helpers import delivery, events

CITIZEN = "zhangsan@example.test"
DOMAIN = "city.example.test"


@dataclass
class Handler:
    received: list[list[str]] = field(default_factory=list)
    refuse: bool = False  # answer RCPT with a 4xx

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(list(envelope.rcpt_tos))
        return "250 2.0.0 queued"


@pytest.fixture
def server() -> Iterator[tuple[Handler, int]]:
    handler, port = Handler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def sender(
    port: int, redis: aioredis.Redis, prefix: str, clock: FakeClock, **cap: int
) -> SmtpSender:
    smtp = SmtpSettings(
        host="127.0.0.1", port=port, from_address=f"12345@{DOMAIN}", domain=DOMAIN, security="none"
    )
    limits = {"per_hour": 0, "per_day": 0, **cap}
    return SmtpSender(smtp, cap=AutoReplyCap(redis, keys=Keys(prefix), clock=clock, **limits))


def mail(template: str = "instant_reply", to: str = CITIZEN, n: int = 0) -> OutboundMessage:
    return OutboundMessage(
        recipient=SenderIdentity(IdentityKind.EMAIL, to),
        text="已将您补充的内容添加到工单 2026031000001。",
        job_key=f"{template}:{n}",
        ticket_number="2026031000001",
        template=template,
    )


async def test_hour_and_day_caps_count_automatic_answers_only(
    server: tuple[Handler, int], redis: aioredis.Redis, redis_prefix: str
) -> None:
    handler, port = server
    clock = FakeClock()  # 10:00 in Shanghai
    smtp = sender(port, redis, redis_prefix, clock, per_hour=2, per_day=3)
    await smtp.send(mail("ack"))
    await smtp.send(mail(n=1))
    with pytest.raises(SendSkipped) as capped:
        await smtp.send(mail(n=2))
    assert capped.value.reason == "capped" and "hour" in str(capped.value)
    with pytest.raises(SendSkipped):  # the same address, written differently
        await smtp.send(mail(to="ZhangSan@Example.TEST", n=3))
    await smtp.send(mail("closed"))  # a person closed the ticket: not an auto-reply
    await smtp.send(mail(to="lisi@example.test"))  # another citizen has their own count
    assert len(handler.received) == 4

    clock.advance(hours=1)
    await smtp.send(mail(n=4))  # a new hour, the third of the day
    with pytest.raises(SendSkipped) as capped:
        await smtp.send(mail(n=5))
    assert "day" in str(capped.value)
    clock.advance(hours=14)  # 01:00 the next day in Shanghai
    await smtp.send(mail(n=6))
    assert [to for (to,) in handler.received].count(CITIZEN) == 5


async def test_a_failed_send_gives_its_place_back(
    server: tuple[Handler, int], redis: aioredis.Redis, redis_prefix: str
) -> None:
    handler, port = server
    smtp = sender(port, redis, redis_prefix, FakeClock(), per_hour=1)
    handler.refuse = True
    with pytest.raises(TransientSendError):
        await smtp.send(mail("ack"))
    handler.refuse = False
    await smtp.send(mail("ack"))  # the retry is not counted twice
    with pytest.raises(SendSkipped):
        await smtp.send(mail(n=1))
    assert len(handler.received) == 1


async def test_concurrent_senders_never_exceed_the_cap(
    server: tuple[Handler, int], redis: aioredis.Redis, redis_prefix: str
) -> None:
    handler, port = server
    clock = FakeClock()
    senders = [sender(port, redis, redis_prefix, clock, per_hour=3) for _ in range(2)]
    results = await asyncio.gather(
        *(senders[i % 2].send(mail(n=i)) for i in range(8)), return_exceptions=True
    )
    skipped = [r for r in results if isinstance(r, SendSkipped)]
    assert len(skipped) == 5 and len(handler.received) == 3


@pytest.fixture
async def capped_runtime(settings: Settings) -> AsyncIterator[tuple[Runtime, FakeClock]]:
    clock = FakeClock()
    runtime = await Runtime.open(settings.model_copy(update={"notify": dict(NOTIFY)}), clock=clock)
    yield runtime, clock
    await runtime.close()


async def test_a_capped_acknowledgement_is_skipped_not_sent_by_sms(
    capped_runtime: tuple[Runtime, FakeClock], server: tuple[Handler, int]
) -> None:
    runtime, clock = capped_runtime
    handler, port = server
    config = EmailSettings(
        address=f"12345@{DOMAIN}",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        auto_reply_cap_per_hour=1,
    )
    email_sender = EmailConnector(email_parts(runtime), config).sender()
    assert email_sender is not None
    sms = Recorder("sms")
    notifier = Notifier(notifier_parts(runtime), {"email": email_sender, "sms": sms})
    try:
        for n, text in enumerate(("幸福路路灯坏了，晚上很黑。", "人民公园东门井盖丢失，很危险。")):
            await runtime.gateway.submit(
                InboundMessage(
                    channel="email",
                    external_id=f"<m{n}@mail.example.test>",
                    sender=SenderIdentity(IdentityKind.EMAIL, CITIZEN),
                    kind=MessageKind.TEXT,
                    received_at=clock(),
                    text=text,
                    fields={"contact_phone": "+8613812345678"},  # an SMS route exists
                )
            )
        await runtime.pipeline_worker(consumer="cap").drain(limit_s=30)
        await notifier.run_due()
    finally:
        await notifier.close()
    assert len(handler.received) == 1 and sms.sent == []
    outcomes = {}
    for number in await _numbers(runtime):
        row = await delivery(runtime, f"ack:{number}")
        assert row is not None
        outcomes[number] = row.status
    assert sorted(outcomes.values()) == ["sent", "skipped"]
    (skipped,) = [n for n, status in outcomes.items() if status == "skipped"]
    (failed,) = await events(runtime, skipped, "delivery_failed")
    assert failed.data["skipped"] == "capped" and failed.data["channel"] == "email"
    assert not [e for e in await events(runtime, skipped, "note") if e.data.get("task")]


async def _numbers(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(Ticket.number)))
