"""Every inbound SMS gets its answer: follow-up confirmations, status answers, opt-out
confirmations and rating thanks go back on the channel the citizen used, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.runtime import Runtime
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.conftest import Recorder

PHONE = "+8613912345678"


def _sms(external_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=PHONE),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text=text,
    )


async def test_each_sms_gets_one_answer(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
) -> None:
    notifier = make_notifier(dict[str, Any](senders))
    worker = nruntime.pipeline_worker(consumer="i")
    await nruntime.gateway.submit(_sms("a1", "小区门口的垃圾桶满了好几天没人清理"))
    await worker.drain()
    await notifier.run_due()
    ack = [m for m in senders["sms"].sent if m.recipient.value == PHONE]
    assert len(ack) == 1 and "工单" in ack[0].text  # the acknowledgement from the notifier
    number = ack[0].ticket_number
    for external_id, text in (("a2", "今天还是没人来"), ("a3", "查询"), ("a4", "TD")):
        await nruntime.gateway.submit(_sms(external_id, text))
    await nruntime.gateway.submit(_sms("a2", "今天还是没人来"))  # the gateway retries: no 2nd
    await worker.drain()
    await notifier.run_due()
    await notifier.run_due()
    replies = {m.job_key: m.text for m in senders["sms"].sent if m.job_key.startswith("reply:")}
    assert set(replies) == {"reply:sms:a2", "reply:sms:a3", "reply:sms:a4"}
    assert number and number in replies["reply:sms:a2"]
    assert "待受理" in replies["reply:sms:a3"] or "已受理" in replies["reply:sms:a3"]
    assert "退订" in replies["reply:sms:a4"]
    assert len([m for m in senders["sms"].sent if m.job_key == "reply:sms:a2"]) == 1


async def test_a_transient_failure_is_retried_once_sent(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: Any,
) -> None:
    """The reply is a notifier job: a transient error is retried after the backoff."""
    from intake.domain.errors import TransientSendError

    calls: list[str] = []

    def flaky(message: Any, count: int) -> None:
        calls.append(message.job_key)
        if message.job_key.startswith("reply:") and count <= 2:
            raise TransientSendError("gateway busy")

    senders["sms"].script = flaky
    notifier = make_notifier(dict[str, Any](senders))
    await nruntime.gateway.submit(_sms("b1", "查询"))
    await nruntime.pipeline_worker(consumer="j").drain()
    await notifier.run_due()
    assert calls == ["reply:sms:b1"]  # tried once; waits for its backoff
    await notifier.run_due()
    assert calls == ["reply:sms:b1"]
    for _ in range(2):
        clock.advance(minutes=2)
        await notifier.run_due()
    sent = [m for m in senders["sms"].sent if m.job_key == "reply:sms:b1"]
    assert len(sent) == 1 and "没有正在办理" in sent[0].text
    assert calls == ["reply:sms:b1"] * 3
    job = await notifier.queue.job(nruntime.redis.keys.prefix + "reply:sms:b1")
    assert job is not None and job.function == "instant_reply" and job.status == "complete"


async def test_passive_wechat_ack_is_not_sent_twice(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: Any,
) -> None:
    from intake.ingest.send_state import SendState, mark_passive_ack
    from notifier.config import load_notify_settings

    grace = {"passive_ack_grace": {"wechat": timedelta(seconds=10)}}
    cfg = load_notify_settings(nruntime.settings.notify).model_copy(update=grace)
    notifier = Notifier(notifier_parts(nruntime), dict[str, Any](senders), cfg=cfg)
    for openid, external_id in (("o_passive", "w1"), ("o_late", "w2")):
        await nruntime.gateway.submit(
            InboundMessage(
                channel="wechat",
                external_id=external_id,
                sender=SenderIdentity(kind=IdentityKind.WECHAT, value=openid, account="wx1"),
                kind=MessageKind.TEXT,
                received_at=clock(),
                text="小区里的路灯全都不亮了",
            )
        )
    await nruntime.pipeline_worker(consumer="w").drain()
    from sqlalchemy import select

    from intake.domain.models import Ticket

    async with nruntime.db.read() as session:
        numbers = dict(
            (await session.execute(select(Ticket.channel, Ticket.number).order_by(Ticket.id))).all()
        )
        ordered = list(await session.scalars(select(Ticket.number).order_by(Ticket.id)))
    assert numbers
    state = SendState(nruntime.redis.client, keys=nruntime.redis.keys)
    await mark_passive_ack(state, number=ordered[0], channel="wechat")  # as the route does
    await notifier.run_due()
    assert senders["wechat"].sent == []  # the grace period: nothing yet
    clock.advance(seconds=11)
    await notifier.run_due()
    acks = [m for m in senders["wechat"].sent if m.job_key.startswith("ack:")]
    assert [m.ticket_number for m in acks] == [ordered[1]]  # only the one not answered passively
    await notifier.close()
