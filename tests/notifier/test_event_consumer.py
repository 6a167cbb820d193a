"""The event consumer takes a read's events together: one database session plans them all,
events handled before are skipped, and every entry is acknowledged after the jobs exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from intake.runtime import Runtime
from notifier import consumer as consumer_module
from notifier.consumer import GROUP
from notifier.service import Notifier
from tests.notifier.conftest import Recorder
from tests.notifier.helpers import new_ticket


async def test_a_read_is_planned_in_one_session_and_acknowledged_together(
    nruntime: Runtime,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(4):
        await new_ticket(nruntime, channel="sms", external_id=f"s{i}", phone=f"+861380000000{i}")
    notifier = make_notifier(senders)
    await nruntime.relay.drain()
    await notifier.consumer.ensure_group()
    redis, keys = nruntime.redis.client, nruntime.redis.keys
    entries = await redis.xrange(keys.events)
    planned_kinds = [f for _, f in entries if f.get("kind") in consumer_module.PLANNERS]
    assert len(planned_kinds) >= 4
    handled_before = planned_kinds[0]["event_id"]
    await redis.set(f"{keys.prefix}notify:event:{handled_before}", "1")

    sessions: list[int] = []
    planned: list[str] = []
    read = nruntime.db.read
    plan = consumer_module.plan

    def counted_read() -> Any:
        sessions.append(1)
        return read()

    async def counted_plan(session: Any, event: dict[str, Any], cfg: Any) -> Any:
        planned.append(event["event_id"])
        return await plan(session, event, cfg)

    monkeypatch.setattr(nruntime.db, "read", counted_read)
    monkeypatch.setattr(consumer_module, "plan", counted_plan)
    handled = await notifier.consumer.poll()

    assert handled == len(entries)
    assert sessions == [1]
    assert handled_before not in planned
    assert sorted(planned) == sorted(f["event_id"] for f in planned_kinds[1:])
    pending = await redis.xpending(keys.events, GROUP)
    assert pending["pending"] == 0
    for fields in planned_kinds:
        assert await redis.exists(f"{keys.prefix}notify:event:{fields['event_id']}")
    assert await notifier.queue.count("incomplete") >= len(planned_kinds) - 1

    # read again (a relay may publish twice): nothing is planned a second time
    planned.clear()
    for _, fields in entries:
        await redis.xadd(keys.events, fields)
    await notifier.consumer.poll()
    assert planned == []
