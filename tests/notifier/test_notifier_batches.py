"""The batch machinery: coalesced Redis calls, token takes in one call, the queue's order and
due times, the job payloads, and a batch of many jobs end to end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis.asyncio as aioredis
from saq.job import Job, Status

from intake.ingest.send_state import SendState
from intake.ratelimit.buckets import Bucket, Grant, TokenBuckets
from intake.redis.coalesce import Coalescer
from intake.redis.keys import Keys
from intake.runtime import Runtime
from notifier.claim import Claim, Claims
from notifier.context import not_before
from notifier.jobs import JobSpec
from notifier.queue import ClockedQueue, open_queue
from notifier.service import Notifier
from tests.conftest import REDIS_URL
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import delivery, events, new_ticket


async def test_coalescer_serves_concurrent_callers_with_one_call() -> None:
    calls: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        calls.append(items)
        return [2 * i for i in items]

    coalesce = Coalescer(double)
    assert await asyncio.gather(*(coalesce(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert await coalesce(7) == 14
    assert calls == [[0, 1, 2, 3, 4], [7]]

    async def broken(items: list[int]) -> list[int]:
        raise ConnectionError("redis went away")

    failing = Coalescer(broken)
    results = await asyncio.gather(failing(1), failing(2), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]


async def test_claims_look_take_and_mark_in_order(redis_prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        state = SendState(client, keys=Keys(redis_prefix))
        limiter = TokenBuckets(client, Keys(redis_prefix))
        claims = Claims(client, state=state, limiter=limiter)
        channel = ("channel:sms", Bucket(rate=2, burst=3))
        a, b = ("to:a", Bucket(rate=1, burst=2)), ("to:b", Bucket(rate=1, burst=5))
        await state.set("k:sent", "sms", "sent:p1")
        found = await claims.claim_many(
            [
                ("k:sent", "sms", [channel, a]),  # sent before: no token taken
                ("k:1", "sms", [channel, a]),
                ("k:2", "sms", [channel, a]),
                ("k:3", "sms", [channel, a]),  # a is empty: nothing taken from the channel
                ("k:4", "sms", [channel, b]),  # so b gets the channel's last token
                ("k:5", "sms", None),  # only looks
            ],
            now=1000.0,
        )
        assert found == [
            Claim(state="sent:p1"),
            Claim(claimed=True),
            Claim(claimed=True),
            Claim(wait=1.0),
            Claim(claimed=True),
            Claim(),
        ]
        assert [await state.get(f"k:{i}", "sms") for i in range(1, 6)] == [
            "sending",
            "sending",
            None,
            "sending",
            None,
        ]
        (again,) = await claims.claim_many([("k:1", "sms", [channel, a])], now=1000.0)
        assert again == Claim(state="sending")  # a second worker never sends it too
        assert await limiter.take([channel], now=1000.0) == (0, pytest.approx(0.5))
        assert await limiter.take([b], want=5, now=1000.0) == Grant(4, 0.0)  # b kept 4 of 5
    finally:
        await client.aclose()


@pytest.fixture
async def queue(redis_prefix: str) -> AsyncIterator[ClockedQueue]:
    made = open_queue(REDIS_URL, keys=Keys(redis_prefix), clock=FakeClock())
    yield made
    await made.disconnect()


async def test_due_jobs_go_before_the_backlog_and_keep_their_milliseconds(
    queue: ClockedQueue,
) -> None:
    clock = queue.clock
    assert isinstance(clock, FakeClock)
    for i in range(3):
        await queue.enqueue("deliver", key=f"now:{i}")
    due = (clock() + timedelta(seconds=10, milliseconds=400)).timestamp()
    for key, at in (("later:2", due + 0.2), ("later:1", due), ("later:0", due - 1)):
        await queue.enqueue("deliver", key=key, scheduled=at)
    clock.advance(seconds=10, milliseconds=300)
    assert len(await queue.schedule(lock=0)) == 1  # later:1 is due in 100 ms: not yet
    clock.advance(milliseconds=400)
    assert len(await queue.schedule(lock=0)) == 2  # earliest first, at the head
    jobs = await queue.dequeue_batch(10, wait=0.01)
    keys = [job.key.split(":", 2)[-1] for job in jobs]
    assert keys[:2] == ["later:1", "later:2"] and keys[2:] == ["later:0", "now:0", "now:1", "now:2"]


def test_due_times_are_never_early() -> None:
    at = datetime(2026, 3, 10, 2, 0, 0, 123456, tzinfo=UTC)
    assert 0 <= not_before(at) - at.timestamp() < 0.001  # an int() would be 0.12 s early
    whole = at.replace(microsecond=0)
    assert not_before(whole) == whole.timestamp()


async def test_job_payload_is_saqs_own(queue: ClockedQueue) -> None:
    job = Job(
        function="deliver",
        kwargs={"spec": {"key": "ack:1", "extra": {}, "staff_id": None}},
        key="ack:1",
        queue=queue,
        timeout=60,
        retries=6,
        scheduled=1773100800.123,
        status=Status.ACTIVE,
        attempts=2,
        meta={"a": 1},
    )
    assert orjson.loads(queue.serialize(job)) == orjson.loads(orjson.dumps(job.to_dict()))
    again = queue.deserialize(queue.serialize(job))
    assert again is not None and again.to_dict() == job.to_dict()


async def test_many_jobs_are_enqueued_in_one_call_once_per_key(queue: ClockedQueue) -> None:
    """`enqueue_many` keeps saq's rules: a key still waiting is a no-op, also within one
    call; a scheduled job waits, a job due now is queued; the payload is saq's."""
    clock = queue.clock
    assert isinstance(clock, FakeClock)
    await queue.enqueue("deliver", key="old")
    later = (clock() + timedelta(seconds=10)).timestamp()

    def job(key: str, scheduled: float = 0) -> Job:
        return Job(function="deliver", key=key, scheduled=scheduled, kwargs={"n": key})

    calls = 0
    original = queue._script

    def counting(name: str, source: str) -> object:
        nonlocal calls
        calls += name == "enqueue"
        return original(name, source)

    queue._script = counting  # type: ignore[method-assign]
    made = await queue.enqueue_many([job("a"), job("old"), job("b", later), job("a"), job("c")])
    assert made == [True, False, True, False, True] and calls == 1
    assert await queue.count("queued") == 3  # old, a, c
    jobs = await queue.dequeue_batch(10, wait=0.01)
    assert [j.key.split(":", 2)[-1] for j in jobs] == ["old", "a", "c"]
    assert jobs[1].kwargs == {"n": "a"} and jobs[1].status == Status.QUEUED
    clock.advance(seconds=10)
    assert [j.split(":")[-1] for j in await queue.schedule(lock=0)] == ["b"]


async def test_settle_finishes_retries_and_fails(queue: ClockedQueue) -> None:
    for key in ("ok", "again", "spent"):
        await queue.enqueue("deliver", key=key, retries=2, ttl=60)
    ok, again, spent = await queue.dequeue_batch(3, wait=0.01)
    await queue.start_batch([ok, again, spent], worker_id="w")
    spent.attempts = 2  # its last attempt
    again.retry_delay = 30
    await queue.settle([ok, again, spent], ["done", RuntimeError("flaky"), RuntimeError("x")])
    stored = {job.key: job for job in await queue.jobs([ok.key, again.key, spent.key]) if job}
    assert stored[ok.key].status == Status.COMPLETE and stored[ok.key].result == "done"
    assert stored[spent.key].status == Status.FAILED and "RuntimeError" in str(
        stored[spent.key].error
    )
    assert stored[again.key].status == Status.QUEUED
    assert await queue.count("active") == 0 and await queue.count("queued") == 0
    assert await queue.due_in() == pytest.approx(30, abs=0.01)  # back when its delay is over


async def test_a_batch_of_many_jobs_sends_each_once_and_records_each(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    numbers = [
        await new_ticket(
            nruntime,
            channel=channel,
            external_id=f"m-{channel}",
            phone=f"+86138000000{i}",
            text=f"第{i}件：幸福路{i}号路灯不亮，请修理。",
        )
        for i, channel in enumerate(("sms", "email", "wechat"))
    ]
    notifier = make_notifier(senders)
    notifier.jc.cfg.job_batch = 7
    await notifier.run_due()  # the acknowledgements
    specs = [
        JobSpec(key=f"reply:{uuid.uuid4().hex[:6]}", template="reply", number=n, text="答复")
        for n in numbers
        for _ in range(8)
    ]
    for spec in specs:
        await notifier.jc.enqueue(spec)
    await notifier.jc.enqueue(specs[0], queue_key=f"{specs[0].key}~again")  # same job key
    await notifier.run_due()
    sent = [m.job_key for s in senders.values() for m in s.sent if m.template == "reply"]
    assert sorted(sent) == sorted(spec.key for spec in specs)  # the duplicate sent nothing
    for number in numbers:
        assert len(await events(nruntime, number, "notified")) == 1 + 8
    for spec in specs:
        row = await delivery(nruntime, spec.key)
        assert row is not None and row.status == "sent" and row.attempts == 1
