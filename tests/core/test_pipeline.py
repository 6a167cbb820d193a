"""The pipeline: follow-ups, status queries, kept unknowns, retries, dead letters, claims."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from intake.domain.messages import (
    VOUCHED_PHONE,
    IdentityKind,
    InboundMessage,
    MessageKind,
    SenderIdentity,
)
from intake.domain.models import CitizenIdentity, Message, Ticket, TicketEvent
from intake.ingest.deadletter import list_dead, replay
from intake.pipeline.context import Context
from intake.pipeline.steps import DEFAULT_STEPS
from intake.pipeline.worker import PipelineWorker
from intake.redis.keys import PIPELINE_GROUP
from intake.runtime import Runtime
from intake.storage.outbox import RECOVERY_GRACE_S
from tests.core.helpers import drain, ticket_count


def sms(
    external_id: str,
    text: str,
    *,
    phone: str = "+8613912345678",
    thread_ref: str | None = None,
    kind: MessageKind = MessageKind.TEXT,
) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=phone),
        kind=kind,
        received_at=datetime.now(UTC),
        text=text,
        thread_ref=thread_ref,
        raw={"id": external_id},
    )


async def _tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(Ticket).order_by(Ticket.id)))


async def _events(runtime: Runtime, number: str) -> list[str]:
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(TicketEvent.kind)
            .join(Ticket)
            .where(Ticket.number == number)
            .order_by(TicketEvent.id)
        )
        return list(rows)


async def test_new_request_follow_up_and_status_query(runtime: Runtime) -> None:
    await runtime.gateway.submit(sms("m1", "我家楼道的灯坏了，请尽快修理"))
    await drain(runtime)
    (ticket,) = await _tickets(runtime)
    assert ticket.channel == "sms" and ticket.contact_phone == "+8613912345678"
    await runtime.gateway.submit(sms("m2", "补充：是3单元", thread_ref=ticket.number))
    await runtime.gateway.submit(sms("m3", ticket.number))
    await drain(runtime)
    assert await ticket_count(runtime) == 1
    assert await _events(runtime, ticket.number) == [
        "received",
        "triaged",
        "follow_up",
        "status_query",
    ]
    async with runtime.db.read() as session:
        intents = dict((await session.execute(select(Message.external_id, Message.intent))).all())
    assert intents == {"m1": "new_request", "m2": "follow_up", "m3": "status_query"}


async def test_someone_elses_ticket_is_not_a_follow_up(runtime: Runtime) -> None:
    await runtime.gateway.submit(sms("a1", "噪音扰民，晚上施工", phone="+8613912345678"))
    await drain(runtime)
    (theirs,) = await _tickets(runtime)
    await runtime.gateway.submit(
        sms("b1", "我也要补充", phone="+8613700000001", thread_ref=theirs.number)
    )
    await drain(runtime)
    tickets = await _tickets(runtime)
    assert len(tickets) == 2 and await _events(runtime, theirs.number) == ["received", "triaged"]


async def test_redelivery_never_makes_a_second_ticket(runtime: Runtime) -> None:
    first = await runtime.gateway.submit(sms("dup", "路面塌陷，很危险"))
    again = await runtime.gateway.submit(sms("dup", "路面塌陷，很危险"))
    assert again.duplicate and again.entry_id == first.entry_id
    await drain(runtime)
    # the edge's key expired, the gateway sends it again: the database still knows it
    await runtime.redis.client.delete(runtime.redis.keys.receipt("sms:dup"))
    await runtime.gateway.submit(sms("dup", "路面塌陷，很危险"))
    await drain(runtime)
    assert await ticket_count(runtime) == 1


async def test_unknown_and_events_are_kept_without_ticket(runtime: Runtime) -> None:
    await runtime.gateway.submit(sms("u1", "", kind=MessageKind.UNKNOWN))
    await drain(runtime)
    assert await ticket_count(runtime) == 0
    async with runtime.db.read() as session:
        kept = await session.scalar(select(Message).where(Message.external_id == "u1"))
    assert kept is not None and kept.intent == "ignored" and kept.payload["raw"] == {"id": "u1"}


def _chat(
    channel: str, kind: IdentityKind, external_id: str, fields: dict[str, object]
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=SenderIdentity(kind=kind, value=f"user-{external_id}", account="acc1"),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text="小区停水了",
        fields=fields,
    )


async def _citizens_by_kind(runtime: Runtime) -> dict[str, set[int]]:
    async with runtime.db.read() as session:
        rows = await session.execute(select(CitizenIdentity.kind, CitizenIdentity.citizen_id))
    found: dict[str, set[int]] = {}
    for kind, citizen in rows:
        found.setdefault(kind, set()).add(citizen)
    return found


async def test_vouched_phone_links_identities_across_channels(runtime: Runtime) -> None:
    await runtime.gateway.submit(sms("s1", "咨询公积金提取"))
    phone = {"contact_phone": "+8613912345678", VOUCHED_PHONE: True}  # Telegram's own contact
    await runtime.gateway.submit(_chat("telegram", IdentityKind.TELEGRAM, "t1", phone))
    await drain(runtime)
    found = await _citizens_by_kind(runtime)
    assert set(found) == {"phone", "telegram"} and found["phone"] == found["telegram"]


async def test_typed_phone_is_kept_on_the_ticket_but_links_nobody(runtime: Runtime) -> None:
    """Anyone can type anyone's number: joining on it would show that person's tickets."""
    await runtime.gateway.submit(sms("s1", "咨询公积金提取"))
    typed = {"contact_phone": "+8613912345678"}
    await runtime.gateway.submit(_chat("wechat", IdentityKind.WECHAT, "w1", typed))
    await drain(runtime)
    found = await _citizens_by_kind(runtime)
    assert set(found) == {"phone", "wechat"} and not found["phone"] & found["wechat"]
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.channel == "wechat"))
    assert ticket is not None and ticket.contact_phone == "+8613912345678"


async def _explode(ctx: Context) -> None:
    if "boom" in ctx.message.text:
        raise RuntimeError("step exploded")


async def test_failing_message_is_dead_lettered_and_replayable(runtime: Runtime) -> None:
    breaking = PipelineWorker(
        db=runtime.db,
        redis=runtime.redis,
        gateway=runtime.gateway,
        relay=runtime.relay,
        settings=runtime.settings.pipeline,
        steps=(_explode, *DEFAULT_STEPS),
        consumer="b",
    )
    await runtime.gateway.submit(sms("ok1", "正常的诉求内容一", phone="+8613900000001"))
    await runtime.gateway.submit(sms("bad", "boom 这条会失败", phone="+8613900000002"))
    await runtime.gateway.submit(sms("ok2", "正常的诉求内容二", phone="+8613900000003"))
    await breaking.drain(limit_s=30)
    assert await ticket_count(runtime) == 2  # the others were not held back
    (dead,) = await list_dead(runtime.redis.client, runtime.redis.keys)
    # by type and place, not by its message (a message may quote personal data)
    assert "RuntimeError" in dead.reason and "step exploded" not in dead.reason
    assert dead.attempts == 3
    assert await runtime.redis.client.xlen(runtime.redis.keys.inbound) == 0
    await replay(runtime.redis.client, runtime.redis.keys, dead.id)
    await drain(runtime)  # a fixed worker processes it
    assert await ticket_count(runtime) == 3
    assert await list_dead(runtime.redis.client, runtime.redis.keys) == []


async def test_unreadable_entry_goes_to_dead_letter(runtime: Runtime) -> None:
    await runtime.redis.client.xadd(runtime.redis.keys.inbound, {"msg": "{not json"})
    await drain(runtime)
    (dead,) = await list_dead(runtime.redis.client, runtime.redis.keys)
    assert dead.reason.startswith("unreadable entry")


async def test_entries_of_a_dead_consumer_are_claimed(runtime: Runtime) -> None:
    worker = runtime.pipeline_worker(consumer="alive")
    await worker.ensure_group()
    await runtime.gateway.submit(sms("c1", "占道经营，请处理"))
    # a consumer reads the entry and dies before processing it
    read = await runtime.redis.client.xreadgroup(
        PIPELINE_GROUP, "dead-one", {runtime.redis.keys.inbound: ">"}, count=10
    )
    assert read and len(read[0][1]) == 1
    assert await worker.run_once(block_ms=1) == 0  # nothing new, and not idle long enough
    await drain(runtime)  # after claim_idle_ms the live worker claims it
    assert await ticket_count(runtime) == 1


async def test_commit_without_ack_is_not_duplicated(runtime: Runtime) -> None:
    """A worker that dies after its commit but before XACK: the retry finds it done."""
    await runtime.gateway.submit(sms("k1", "公交站牌损坏"))
    worker = runtime.pipeline_worker(consumer="crashy")
    await worker.ensure_group()
    raw = await worker._read(1)
    entries = await worker._decode(raw)
    await worker._commit(entries)  # committed, never acknowledged
    await drain(runtime)
    assert await ticket_count(runtime) == 1
    async with runtime.db.read() as session:
        assert len(list(await session.scalars(select(Message)))) == 1


@pytest.mark.parametrize("text", ["查询", "进度"])
async def test_status_words_are_status_queries(runtime: Runtime, text: str) -> None:
    await runtime.gateway.submit(sms("q1", text))
    await drain(runtime)
    assert await ticket_count(runtime) == 0
    async with runtime.db.read() as session:
        assert await session.scalar(select(Message.intent)) == "status_query"


async def _intent_of(runtime: Runtime, external_id: str) -> str:
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(Message.intent).where(Message.external_id == external_id)
        )
    return str(found)


async def test_opt_out_and_back_in(runtime: Runtime) -> None:
    await runtime.gateway.submit(sms("o1", "ＴＤ"))
    await drain(runtime)
    async with runtime.db.read() as session:
        identity = await session.scalar(select(CitizenIdentity))
    assert identity is not None and identity.opted_out_at is not None
    assert await _intent_of(runtime, "o1") == "opt_out" and await ticket_count(runtime) == 0
    await runtime.gateway.submit(sms("o2", "开通"))
    await drain(runtime)
    async with runtime.db.read() as session:
        identity = await session.scalar(select(CitizenIdentity))
    assert identity is not None and identity.opted_out_at is None
    await runtime.gateway.submit(
        sms("o3", "我想退订你们的垃圾短信，太烦了")
    )  # not the whole message
    await drain(runtime)
    assert await _intent_of(runtime, "o3") == "new_request"


async def test_sms_single_open_ticket_and_code_in_text(runtime: Runtime) -> None:
    await runtime.gateway.submit(sms("s1", "小区门口井盖丢了，很危险"))
    await drain(runtime)
    await runtime.gateway.submit(sms("s2", "今天还没人来修"))  # the only open ticket
    await drain(runtime)
    assert await _intent_of(runtime, "s2") == "follow_up" and await ticket_count(runtime) == 1
    web = InboundMessage(
        channel="web",
        external_id="w1",
        sender=SenderIdentity(kind=IdentityKind.PHONE, value="+8613912345678"),
        kind=MessageKind.FORM,
        received_at=datetime.now(UTC),
        text="另外一件事：路灯不亮",
        fields={"contact_phone": "+8613912345678"},
    )
    second = await runtime.gateway.submit(web, open_ticket=True)
    await drain(runtime)
    await runtime.gateway.submit(sms("s3", "还有人管吗"))  # two open tickets: a new request
    await runtime.gateway.submit(sms("s4", f"{second.query_code} 路灯还是不亮"))
    await drain(runtime)
    assert await _intent_of(runtime, "s3") == "new_request"
    assert await _intent_of(runtime, "s4") == "follow_up"
    assert second.number is not None
    assert (await _events(runtime, second.number))[-1] == "follow_up"


async def test_flood_guard(runtime: Runtime) -> None:
    runtime.settings.pipeline.flood_per_hour = 3
    worker = runtime.pipeline_worker(consumer="f")
    for i in range(5):
        await runtime.gateway.submit(sms(f"f{i}", f"骚扰测试第{i}条内容"))
    await worker.drain()
    intents = [await _intent_of(runtime, f"f{i}") for i in range(5)]
    assert intents[3:] == ["ignored", "ignored"]
    from intake.ingest.outcome_waiter import wait_for_outcome

    outcome = await wait_for_outcome(
        runtime.redis.client, runtime.redis.keys, channel="sms", external_id="f4", within_s=1
    )
    assert outcome is not None and outcome.note == "flood"


async def test_outcome_for_channels_that_answer_at_once(runtime: Runtime) -> None:
    from intake.ingest.outcome_waiter import wait_for_outcome

    keys = runtime.redis.keys
    assert (
        await wait_for_outcome(
            runtime.redis.client, keys, channel="sms", external_id="x1", within_s=0.05
        )
        is None
    )
    await runtime.gateway.submit(sms("x1", "我的社保卡丢了，怎么补办？"))
    await drain(runtime)
    outcome = await wait_for_outcome(
        runtime.redis.client, keys, channel="sms", external_id="x1", within_s=1
    )
    assert outcome is not None and outcome.intent == "new_request" and outcome.ticket
    assert outcome.status == "closed" and outcome.reply and "社保卡" in outcome.reply


async def test_auto_replies_are_kept_but_never_tickets(runtime: Runtime) -> None:
    from pathlib import Path

    from channels.email import parse_mail

    fixtures = Path(__file__).parent.parent / "fixtures" / "email"
    for name in (
        "28_auto_submitted.eml",
        "30_x_autoreply.eml",
        "47_auto_submitted_no_is_normal.eml",
    ):
        parsed = parse_mail((fixtures / name).read_bytes(), mailbox_address="12345@city.gov.cn")
        await runtime.gateway.submit(parsed.message)
    await drain(runtime)
    async with runtime.db.read() as session:
        intents = sorted((await session.execute(select(Message.intent))).scalars())
    assert intents == ["ignored", "ignored", "new_request"]  # Auto-Submitted: no is a person
    assert await ticket_count(runtime) == 1


async def test_a_bounce_is_a_failed_delivery_on_its_ticket(runtime: Runtime) -> None:
    from pathlib import Path

    from sqlalchemy import update

    from channels.email import parse_mail

    await runtime.gateway.submit(sms("t1", "路灯不亮，请修理", phone="+8613900000009"))
    await drain(runtime)
    async with runtime.db.write() as session, session.begin():  # the number our mail carried
        await session.execute(update(Ticket).values(number="2026112100042"))
    raw = Path(__file__).parent.parent / "fixtures" / "email" / "33_dsn_bounce_rfc822.eml"
    parsed = parse_mail(raw.read_bytes(), mailbox_address="12345@city.gov.cn")
    await runtime.gateway.submit(parsed.message)
    await drain(runtime)
    assert await ticket_count(runtime) == 1
    kinds = await _events(runtime, "2026112100042")
    assert kinds[-1] == "delivery_failed"
    async with runtime.db.read() as session:
        event = await session.scalar(
            select(TicketEvent).where(TicketEvent.kind == "delivery_failed")
        )
    assert event is not None and event.data["recipients"][0]["status"] == "5.1.1"


async def _published_flags(runtime: Runtime) -> list[bool]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(TicketEvent.published).order_by(TicketEvent.id)))


async def test_published_events_are_marked_by_the_next_batch_or_when_idle(
    runtime: Runtime,
) -> None:
    """A batch's events go on the stream at once; the database learns it in the next batch's
    transaction (no commit of its own under load), or when the worker falls idle."""
    worker = runtime.pipeline_worker(consumer="marker")
    await worker.ensure_group()
    await runtime.gateway.submit(sms("m1", "路灯不亮，晚上很黑"))
    assert await worker.run_once(block_ms=1) == 1
    stream = await runtime.redis.client.xrange(runtime.redis.keys.events)
    assert len(stream) >= 1
    first = await _published_flags(runtime)
    assert first and not any(first)  # on the stream, not yet marked
    await runtime.gateway.submit(sms("m2", "小区门口井盖丢失", phone="+8613912340000"))
    assert await worker.run_once(block_ms=1) == 1
    flags = await _published_flags(runtime)
    assert flags[: len(first)] == [True] * len(first)  # marked inside the second batch
    assert not any(flags[len(first) :])
    assert await worker.run_once(block_ms=1) == 0  # idle: marked on their own
    assert all(await _published_flags(runtime))
    assert await runtime.relay.flush() == 0  # the relay finds nothing to publish again


async def test_the_background_relay_leaves_live_publishers_alone(runtime: Runtime) -> None:
    """Events a worker has just published (and will mark with its next batch) are not
    published again by the safety-net relay, nor by a staff action on another ticket; an
    event nobody published for longer than the grace is."""
    worker = runtime.pipeline_worker(consumer="live")
    await worker.ensure_group()
    await runtime.gateway.submit(sms("r1", "路灯不亮，晚上很黑"))
    assert await worker.run_once(block_ms=1) == 1
    on_stream = await runtime.redis.client.xlen(runtime.redis.keys.events)
    assert on_stream >= 1 and not any(await _published_flags(runtime))  # published, unmarked

    grace_ago = datetime.now(UTC) - timedelta(seconds=RECOVERY_GRACE_S)
    assert await runtime.relay.drain(created_before=grace_ago) == 0
    (ticket,) = await _tickets(runtime)
    assert await runtime.relay.flush(ticket_id=ticket.id + 1) == 0
    assert await runtime.redis.client.xlen(runtime.redis.keys.events) == on_stream

    # the worker died before its mark: once the grace is over, the relay publishes them again
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert await runtime.relay.drain(created_before=later) == on_stream
    assert all(await _published_flags(runtime))


async def test_a_running_worker_waits_briefly_to_fill_a_small_batch(runtime: Runtime) -> None:
    runtime.settings.pipeline.linger_ms = 150
    worker = runtime.pipeline_worker(consumer="lingerer")
    await worker.ensure_group()
    await runtime.gateway.submit(sms("l1", "路灯不亮"))

    async def later(external_id: str) -> None:
        await asyncio.sleep(0.03)
        await runtime.gateway.submit(sms(external_id, "井盖丢失", phone="+8613912340001"))

    late = asyncio.create_task(later("l2"))
    gathered = await worker._read(None, linger=True)
    await late
    assert len(gathered) == 2
    await runtime.gateway.submit(sms("l3", "噪音扰民", phone="+8613912340002"))
    late = asyncio.create_task(later("l4"))  # a drain does not wait for it
    assert len(await worker._read(1)) == 1
    await late
    assert len(await worker._read(1)) == 1


@pytest.mark.parametrize(("beside_http", "gathered"), [(True, 6), (False, 5)])
async def test_a_worker_beside_http_lingers_for_larger_batches(
    runtime: Runtime, beside_http: bool, gathered: int
) -> None:
    """Five waiting entries are a batch worth its fixed cost in a process of its own; beside
    HTTP, whose core that cost is taken from, the worker waits a little for more."""
    runtime.settings.pipeline.linger_ms = 150
    worker = runtime.pipeline_worker(consumer="placed", beside_http=beside_http)
    await worker.ensure_group()
    for i in range(5):
        await runtime.gateway.submit(sms(f"p{i}", "路灯不亮", phone=f"+86139123400{i:02d}"))

    async def later() -> None:
        await asyncio.sleep(0.03)
        await runtime.gateway.submit(sms("p9", "井盖丢失", phone="+8613912340099"))

    late = asyncio.create_task(later())
    assert len(await worker._read(None, linger=True)) == gathered
    await late
