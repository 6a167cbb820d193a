"""Department webhooks against a real receiver on 127.0.0.1: signed, in order per ticket,
at least once across a worker that dies, retried, dead-lettered and replayed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.domain.clock import utcnow
from intake.domain.enums import Role
from intake.domain.errors import InvalidInput
from intake.domain.lifecycle import Action
from intake.integration.models import WebhookDeadLetter
from intake.integration.webhook_worker import GROUP, WebhookWorker
from intake.integration.webhooks import check_url, register, remove
from intake.integration_settings import IntegrationSettings
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body
from tests.integration.actions import act, staff_member
from tests.integration.receiver import Receiver, running_receiver
from tests.polling import poll

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-for-the-environment-bureau"
FAST = IntegrationSettings(
    webhook_allow_private=True,
    webhook_backoff_first_s=0.05,
    webhook_backoff_max_s=0.2,
    webhook_retry_for_s=3600,
)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver(SECRET) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def worker(
    runtime: Runtime, http: httpx.AsyncClient, name: str, **options: object
) -> WebhookWorker:
    settings = options.pop("settings", FAST)
    assert isinstance(settings, IntegrationSettings)
    return WebhookWorker(
        db=runtime.db,
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        settings=settings,
        http=http,
        consumer=name,
        hooks_refresh_s=0,
        **options,  # type: ignore[arg-type]
    )


async def hook(runtime: Runtime, url: str, department: str = "environment") -> None:
    async with runtime.db.write() as session, session.begin():
        await register(
            session,
            department=department,
            url=url,
            secret=SECRET,
            catalog=runtime.catalog,
            allow_private=True,
            at=utcnow(),
        )


async def until_idle(*workers: WebhookWorker, deadline_s: float = 20.0) -> None:
    """Run the workers until the stream and every queue are empty (polled, never slept)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        moved = sum([await w.poll(block_ms=None) for w in workers])
        sent = sum([await w.deliver_due() for w in workers])
        left = await workers[0]._redis.zcard(workers[0].keys.due)
        if not moved and not sent and not left:
            return
    raise AssertionError("webhook queues did not empty in time")


async def dispatched_ticket(client: httpx.AsyncClient, runtime: Runtime, **body: object) -> str:
    response = await client.post("/api/v1/requests", json=request_body(**body))
    assert response.status_code == 201
    await drain(runtime)
    number = str(response.json()["number"])
    agent, _ = await staff_member(runtime, Role.AGENT, name=f"agent-{number}")
    await act(runtime, agent, number, Action.ACCEPT)
    await act(runtime, agent, number, Action.DISPATCH, department="environment")
    return number


async def test_every_event_signed_in_order_across_a_dead_worker(
    client: httpx.AsyncClient,
    clean_runtime: Runtime,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    runtime = clean_runtime
    await hook(runtime, receiver.url)
    first = worker(runtime, http, "first", lease_s=0.3, claim_idle_ms=100)
    await first.ensure_group()
    number = await dispatched_ticket(client, runtime)
    handler, _ = await staff_member(runtime, Role.HANDLER, "environment")
    await act(runtime, handler, number, Action.ACCEPT)
    await act(runtime, handler, number, Action.EXTEND, days=3, text="需要协调施工单位")
    await act(runtime, handler, number, Action.REPLY, text="已责令商户安装油烟净化器。")
    agent, _ = await staff_member(runtime, Role.AGENT, name="closer")
    await act(runtime, agent, number, Action.CLOSE)

    # the first worker reads the stream and dies before acknowledging or delivering
    await runtime.redis.client.xreadgroup(
        GROUP, "first", {runtime.redis.keys.events: ">"}, count=1000
    )
    second = worker(runtime, http, "second", lease_s=0.3, claim_idle_ms=100)
    pending = await runtime.redis.client.xpending(runtime.redis.keys.events, GROUP)
    assert pending["pending"] > 0
    # the dead worker's entries are reclaimed once idle past claim_idle_ms (a poll may first
    # read events published since, which are not for the department: poll until it is queued)
    queue = second.keys.queue("environment", number)
    end = time.monotonic() + 5
    while await runtime.redis.client.zscore(second.keys.due, queue) is None:
        await second.poll(block_ms=None)
        assert time.monotonic() < end
        await asyncio.sleep(0.02)
    # a worker takes the queue under a lease and dies before the POST: another takes over
    now = time.time()
    assert await second._claim(keys=[second.keys.due], args=[queue, now, now + 0.3])
    await until_idle(worker(runtime, http, "third", lease_s=0.3, claim_idle_ms=100))

    kinds = receiver.kinds(number)
    assert kinds == ["dispatched", "accepted", "extension_requested", "replied", "closed"]
    assert receiver.bad_signatures == 0
    ids = [int(r["event"]["id"]) for r in receiver.received]
    assert ids == sorted(ids)
    dispatched = receiver.received[0]
    assert dispatched["ticket"]["contact_phone"] == "+8613812345678"
    assert dispatched["ticket"]["category"] == "cooking-fumes"
    assert receiver.received[3]["event"]["text"] == "已责令商户安装油烟净化器。"


async def test_retried_then_dead_lettered_then_replayed(
    client: httpx.AsyncClient,
    clean_runtime: Runtime,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    runtime = clean_runtime
    await hook(runtime, receiver.url)
    await worker(runtime, http, "w").ensure_group()
    receiver.refuse = 2  # two refusals, then the retries get through
    number = await dispatched_ticket(client, runtime, phone="13900001111")
    await until_idle(worker(runtime, http, "w"))
    assert receiver.kinds(number) == ["dispatched"]

    receiver.refuse_all = True
    quick = FAST.model_copy(update={"webhook_retry_for_s": 1})
    handler, _ = await staff_member(runtime, Role.HANDLER, "environment")
    await act(runtime, handler, number, Action.ACCEPT)
    await act(runtime, handler, number, Action.REPLY, text="已处理完毕。")
    await until_idle(worker(runtime, http, "w", settings=quick))
    async with runtime.db.read() as session:
        dead = (
            await session.scalars(select(WebhookDeadLetter).order_by(WebhookDeadLetter.id))
        ).all()
    assert [d.payload["event"]["kind"] for d in dead] == ["accepted", "replied"]
    assert dead[0].attempts >= 2 and dead[0].error == "HTTP 503" and dead[0].ticket == number

    receiver.refuse_all = False
    replayer = worker(runtime, http, "w")
    for row in dead:
        await replayer.replay(row.id)
    await until_idle(replayer)
    assert receiver.kinds(number) == ["dispatched", "accepted", "replied"]


async def test_anonymous_citizens_stay_anonymous(
    client: httpx.AsyncClient,
    clean_runtime: Runtime,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    await hook(clean_runtime, receiver.url)
    await worker(clean_runtime, http, "w").ensure_group()
    number = await dispatched_ticket(client, clean_runtime, anonymous=True, phone="13900002222")
    await until_idle(worker(clean_runtime, http, "w"))
    (event,) = [r for r in receiver.received if r["ticket"]["number"] == number]
    assert event["ticket"]["anonymous"] is True
    text = str(event)
    assert "13900002222" not in text and "张三" not in text
    assert "contact_phone" not in event["ticket"] and "address" not in event["ticket"]


async def test_other_departments_and_removed_hooks_get_nothing(
    client: httpx.AsyncClient,
    clean_runtime: Runtime,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    await hook(clean_runtime, receiver.url, department="water")
    await worker(clean_runtime, http, "w").ensure_group()
    await dispatched_ticket(client, clean_runtime)
    await until_idle(worker(clean_runtime, http, "w"))
    assert receiver.received == []
    async with clean_runtime.db.write() as session, session.begin():
        await remove(session, department="water")
        with pytest.raises(Exception, match="no webhook"):
            await remove(session, department="water")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "ftp://example.com/x",
        "http:///nohost",
    ],
)
async def test_private_and_odd_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        await check_url(url, allow_private=False)


async def test_private_address_allowed_by_the_operator() -> None:
    await check_url("http://127.0.0.1:9/hook", allow_private=True)


async def test_killed_worker_process_loses_nothing_and_keeps_order(
    client: httpx.AsyncClient,
    clean_runtime: Runtime,
    receiver: Receiver,
    settings: Settings,
) -> None:
    """A worker process killed with SIGKILL in the middle and started again: every event of
    the department's tickets arrives, signed, in order per ticket."""
    runtime = clean_runtime
    await hook(runtime, receiver.url)
    numbers = []
    for phone in ("13900003331", "13900003332", "13900003333"):
        number = await dispatched_ticket(client, runtime, phone=phone)
        handler, _ = await staff_member(runtime, Role.HANDLER, "environment", name=phone)
        await act(runtime, handler, number, Action.ACCEPT)
        await act(runtime, handler, number, Action.REPLY, text=f"已处理 {phone[-1]}")
        numbers.append(number)
    receiver.delay_s = 0.1
    env = {
        **os.environ,
        "INTAKE_DATA_DIR": str(settings.data_dir),
        "INTAKE_DATABASE_URL": settings.database_url or "",
        "INTAKE_REDIS_URL": settings.redis_url or "",
        "INTAKE_REDIS_PREFIX": settings.redis_prefix,
        "INTAKE_INTEGRATION__WEBHOOK_ALLOW_PRIVATE": "true",
    }
    command = [sys.executable, "-m", "tests.integration.webhook_child"]
    first = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        await poll(lambda: _at_least(receiver, 3), timeout=60)
        first.kill()
        first.wait(10)
        second = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            await poll(lambda: _at_least(receiver, 9), timeout=60)
        finally:
            second.terminate()
            assert second.wait(20) == 0
    finally:
        if first.poll() is None:
            first.kill()
    for number in numbers:
        assert receiver.kinds(number) == ["dispatched", "accepted", "replied"]
    assert receiver.bad_signatures == 0 and receiver.deliveries >= 9


async def _at_least(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count
