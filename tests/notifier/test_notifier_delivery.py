"""Delivery: channel choice and fallback, call-back tasks, quiet hours, retries, duplicates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from channels.base import OutboundMessage
from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.runtime import Runtime
from notifier.service import Notifier
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import PHONE, delivery, events, new_ticket, set_identity

MakeNotifier = Callable[..., Notifier]


async def test_ack_on_own_channel_with_number_and_code(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="wechat")
    await notifier.run_due()
    (ack,) = senders["wechat"].sent
    assert number in ack.text and ack.job_key == f"ack:{number}"
    assert ack.recipient.value == "openid-1" and ack.recipient.account == "gh_city"
    assert senders["sms"].sent == []
    (notified,) = await events(nruntime, number, "notified")
    assert notified.data["channel"] == "wechat" and notified.data["template"] == "ack"
    assert notified.public is False
    row = await delivery(nruntime, f"ack:{number}")
    assert row is not None and row.status == "sent" and row.attempts == 1


async def test_unreachable_falls_back_to_sms(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    def unfollowed(message: OutboundMessage, call: int) -> None:
        raise UnreachableError("48001 api unauthorized: user unsubscribed")

    senders["wechat"].script = unfollowed
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="wechat")
    await notifier.run_due()
    assert senders["wechat"].calls == 1 and senders["wechat"].sent == []
    (sms,) = senders["sms"].sent
    assert sms.recipient.value == PHONE and sms.template == "ack"
    assert sms.params == {"number": number, "query_code": sms.params["query_code"]}
    failed, notified = await events(nruntime, number, "delivery_failed", "notified")
    assert failed.kind == "delivery_failed" and failed.data["channel"] == "wechat"
    assert failed.data["error"].startswith("unreachable") and failed.data["job_key"] == sms.job_key
    assert notified.data["channel"] == "sms" and notified.data["recipient"] == "+86138****5678"


async def test_nothing_reachable_makes_a_callback_task(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    def refuse(message: OutboundMessage, call: int) -> None:
        raise PermanentSendError("invalid number")

    senders["sms"].script = refuse
    del senders["wechat"]  # no WeChat sender configured at all
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="wechat")
    await notifier.run_due()
    (failed,) = await events(nruntime, number, "delivery_failed")
    assert failed.data["channel"] == "sms" and "permanent" in failed.data["error"]
    (task,) = await events(nruntime, number, "note")
    assert task.data["task"] == "callback_by_phone" and task.public is False
    assert "电话回访" in (task.text or "")
    row = await delivery(nruntime, f"ack:{number}")
    assert row is not None and row.status == "failed"
    assert senders["sms"].calls == 1  # permanent: not retried


async def test_web_ack_nothing_carries_is_skipped_not_a_callback_task(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    """The web form showed the number: without SMS nobody is asked to phone it through."""
    del senders["sms"]  # no SMS configured
    notifier = make_notifier(senders)
    web = SenderIdentity(IdentityKind.PHONE, PHONE)
    number = await new_ticket(nruntime, channel="web", sender=web)
    await notifier.run_due()
    assert await events(nruntime, number, "note") == []
    row = await delivery(nruntime, f"ack:{number}")
    assert row is not None and row.status == "skipped" and "confirmation" in (row.last_error or "")


async def test_web_ack_goes_by_sms_when_there_is_sms(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    web = SenderIdentity(IdentityKind.PHONE, PHONE)
    number = await new_ticket(nruntime, channel="web", sender=web, external_id="web-2")
    await notifier.run_due()
    (ack,) = senders["sms"].sent
    assert ack.template == "ack" and number in ack.text and ack.recipient.value == PHONE


async def test_quiet_hours_postpone_sms_until_morning(
    nruntime: Runtime,
    make_notifier: MakeNotifier,
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    clock.now = datetime.fromisoformat("2026-03-10T22:30:00+08:00")
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="sms")
    await notifier.run_due()
    assert [m.template for m in senders["sms"].sent] == ["ack"]  # the answer to a fresh text
    notifier.jc.cfg.quiet_exempt = []
    await notifier.jc.enqueue(_spec("reply", number))
    await notifier.run_due()
    assert len(senders["sms"].sent) == 1
    row = await delivery(nruntime, "reply:test")
    assert row is not None and row.status == "postponed"
    clock.now = datetime.fromisoformat("2026-03-11T07:59:00+08:00")
    await notifier.run_due()
    assert len(senders["sms"].sent) == 1
    clock.now = datetime.fromisoformat("2026-03-11T08:00:00+08:00")
    await notifier.run_due()
    assert [m.template for m in senders["sms"].sent] == ["ack", "reply"]
    row = await delivery(nruntime, "reply:test")
    assert row is not None and row.status == "sent"


async def test_urgent_ticket_is_not_held_by_quiet_hours(
    nruntime: Runtime,
    make_notifier: MakeNotifier,
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    clock.now = datetime.fromisoformat("2026-03-10T23:00:00+08:00")
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="sms")
    await notifier.run_due()
    await notifier.jc.enqueue(_spec("reply", number, urgent=True))
    await notifier.run_due()
    assert [m.template for m in senders["sms"].sent] == ["ack", "reply"]


async def test_transient_errors_retry_with_backoff_then_succeed(
    nruntime: Runtime,
    make_notifier: MakeNotifier,
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    def flaky(message: OutboundMessage, call: int) -> None:
        if call <= 2:
            raise TransientSendError("45009 api freq out of limit", retry_after=120)

    senders["wechat"].script = flaky
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="wechat")
    await notifier.run_due()
    assert senders["wechat"].calls == 1 and senders["wechat"].sent == []
    (first,) = await events(nruntime, number, "delivery_failed")
    assert first.data["retry_in"] >= 120 and "transient" in first.data["error"]
    clock.advance(seconds=100)
    await notifier.run_due()
    assert senders["wechat"].calls == 1  # not before retry_after
    clock.advance(seconds=first.data["retry_in"] - 100 + 1)
    await notifier.run_due()
    assert senders["wechat"].calls == 2
    second = (await events(nruntime, number, "delivery_failed"))[1]
    clock.advance(seconds=second.data["retry_in"] + 1)
    await notifier.run_due()
    assert senders["wechat"].calls == 3 and len(senders["wechat"].sent) == 1
    assert senders["sms"].sent == []
    row = await delivery(nruntime, f"ack:{number}")
    assert row is not None and row.status == "sent" and row.attempts == 3


async def test_transient_errors_give_up_after_max_attempts_then_fall_back(
    nruntime: Runtime,
    make_notifier: MakeNotifier,
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    def down(message: OutboundMessage, call: int) -> None:
        raise TransientSendError("connection refused")

    senders["wechat"].script = down
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="wechat")
    for _ in range(10):
        await notifier.run_due()
        clock.advance(minutes=15)
    assert senders["wechat"].calls == 4  # max_attempts
    delays = [e.data["retry_in"] for e in await events(nruntime, number, "delivery_failed")]
    assert delays[-1] is None and all(d > 0 for d in delays[:-1])
    assert [m.template for m in senders["sms"].sent] == ["ack"]


async def test_duplicate_domain_events_make_one_delivery(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="wechat")
    stream = nruntime.redis.keys.events
    entries = await nruntime.redis.client.xrange(stream)
    (fields,) = [f for _, f in entries if f["kind"] == "received"]
    for _ in range(3):  # the relay published it again (crash between publish and mark)
        await nruntime.redis.client.xadd(stream, fields)
    await notifier.run_due()
    for _ in range(2):
        await nruntime.redis.client.xadd(stream, fields)
        await nruntime.redis.client.delete(
            f"{nruntime.redis.keys.prefix}notify:event:{fields['event_id']}"
        )  # even past the dedupe
        await notifier.run_due()
    assert len(senders["wechat"].sent) == 1
    assert len(await events(nruntime, number, "notified")) == 1


async def test_opted_out_phone_gets_no_survey_sms(
    nruntime: Runtime, make_notifier: MakeNotifier, senders: dict[str, Recorder]
) -> None:
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="sms")
    await notifier.run_due()
    await set_identity(nruntime, "phone", PHONE, opted_out_at=nruntime.clock())
    await notifier.jc.enqueue(_spec("reply", number))  # essential: still sent
    await notifier.run_due()
    assert [m.template for m in senders["sms"].sent] == ["ack", "reply"]
    await notifier.jc.enqueue(_spec("dimensions", number))  # a survey question: not by SMS
    await notifier.run_due()
    assert [m.template for m in senders["sms"].sent] == ["ack", "reply"]
    (refused,) = await events(nruntime, number, "delivery_failed")
    assert "opted out" in refused.data["error"]
    (task,) = await events(nruntime, number, "note")
    assert task.data == {**task.data, "task": "callback_by_phone", "template": "dimensions"}


def _spec(template: str, number: str, **kw: object) -> object:
    from notifier.jobs import JobSpec

    return JobSpec(key=f"{template}:test", template=template, number=number, text="已处理", **kw)  # type: ignore[arg-type]
