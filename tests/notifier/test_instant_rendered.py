"""The answer to a citizen's own message: the core says what (a template and its facts), the
notifier renders it from the catalogue and delivers it like every other citizen message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from intake.domain.errors import PermanentSendError
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.runtime import Runtime
from notifier.config import load_notify_settings
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import delivery, events, ticket

PHONE = "+8613912345678"


def _sms(external_id: str, text: str, clock: FakeClock) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=PHONE),
        kind=MessageKind.TEXT,
        received_at=clock(),
        text=text,
    )


def _notifier(runtime: Runtime, senders: dict[str, Recorder], **cfg: Any) -> Notifier:
    settings = load_notify_settings(runtime.settings.notify).model_copy(update=cfg)
    return Notifier(notifier_parts(runtime), dict[str, Any](senders), cfg=settings)


async def test_a_status_answer_is_rendered_by_the_notifier(
    nruntime: Runtime, senders: dict[str, Recorder], clock: FakeClock, tmp_path: Path
) -> None:
    """The queued entry names the template and its facts; the notifier's own override folder
    decides the words (the pipeline's runtime knows no override)."""
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "status_none.j2").write_text("本地措辞：您名下暂无工单。", "utf-8")
    notifier = _notifier(nruntime, senders, templates_dir=tmp_path)
    await nruntime.gateway.submit(_sms("q1", "查询", clock))
    await nruntime.pipeline_worker(consumer="q").drain()
    ((_, fields),) = await nruntime.redis.client.xrange(nruntime.redis.keys.replies)
    assert fields["template"] == "status_none" and "text" not in fields
    assert fields["job_key"] == "reply:sms:q1" and fields["ticket"] == ""
    await notifier.run_due()
    await notifier.run_due()
    (reply,) = [m for m in senders["sms"].sent if m.job_key == "reply:sms:q1"]
    assert reply.text == "本地措辞：您名下暂无工单。"
    assert reply.template == "instant_reply" and reply.recipient.value == PHONE
    assert await delivery(nruntime, "reply:sms:q1") is None  # about no ticket: only logged
    await notifier.close()


async def test_a_reply_about_a_ticket_is_recorded_on_it(
    nruntime: Runtime, senders: dict[str, Recorder], clock: FakeClock
) -> None:
    """Delivered through the notifier's delivery path: a record and a ticket event, at once
    even in the quiet hours, and a re-run sends nothing again."""
    notifier = _notifier(nruntime, senders)
    worker = nruntime.pipeline_worker(consumer="f")
    await nruntime.gateway.submit(_sms("f1", "小区门口的垃圾桶满了好几天没人清理", clock))
    await worker.drain()
    await notifier.run_due()
    (ack,) = senders["sms"].sent
    number = ack.ticket_number
    assert number
    clock.advance(hours=12)  # 22:00 in Shanghai: quiet hours
    await nruntime.gateway.submit(_sms("f2", "今天还是没人来", clock))
    await worker.drain()
    await notifier.run_due()
    (reply,) = [m for m in senders["sms"].sent if m.job_key == "reply:sms:f2"]
    assert number in reply.text and reply.ticket_number == number
    row = await delivery(nruntime, "reply:sms:f2")
    assert row is not None and row.status == "sent" and row.template == "instant_reply"
    assert row.ticket_id == (await ticket(nruntime, number)).id
    assert row.channel == "sms" and row.recipient is not None and PHONE not in row.recipient
    (notified,) = [
        e for e in await events(nruntime, number, "notified") if e.data["job_key"] == reply.job_key
    ]
    assert notified.data["template"] == "instant_reply"
    job = await notifier.queue.job(nruntime.redis.keys.prefix + "reply:sms:f2")
    assert job is not None
    await notifier.instant.send({"job": job}, fields=job.kwargs["fields"])  # a re-run
    assert len([m for m in senders["sms"].sent if m.job_key == "reply:sms:f2"]) == 1
    await notifier.close()


async def test_an_undeliverable_reply_about_a_ticket_asks_for_a_call_back(
    nruntime: Runtime, senders: dict[str, Recorder], clock: FakeClock
) -> None:
    def refuse(message: Any, count: int) -> None:
        if message.job_key.startswith("reply:"):
            raise PermanentSendError("number not in service")

    senders["sms"].script = refuse
    notifier = _notifier(nruntime, senders)
    worker = nruntime.pipeline_worker(consumer="u")
    await nruntime.gateway.submit(_sms("u1", "小区门口的垃圾桶满了好几天没人清理", clock))
    await worker.drain()
    await notifier.run_due()
    (ack,) = senders["sms"].sent
    number = ack.ticket_number
    assert number
    await nruntime.gateway.submit(_sms("u2", "今天还是没人来", clock))
    await worker.drain()
    await notifier.run_due()
    row = await delivery(nruntime, "reply:sms:u2")
    assert row is not None and row.status == "failed"
    (task,) = [e for e in await events(nruntime, number, "note") if e.data]
    assert task.data["task"] == "callback_by_phone" and task.data["job_key"] == "reply:sms:u2"
    await notifier.close()
