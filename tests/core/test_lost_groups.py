"""A Redis restarted without persistence has lost the consumer groups (NOGROUP): the running
pipeline worker and notifier consumer create theirs again and go on."""

from __future__ import annotations

import asyncio

import pytest

from intake.redis.keys import PIPELINE_GROUP
from intake.runtime import Runtime
from notifier.consumer import GROUP as NOTIFIER_GROUP
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.core.helpers import ticket_count
from tests.core.test_pipeline import sms
from tests.polling import poll

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


async def test_a_lost_consumer_group_is_created_again(runtime: Runtime) -> None:
    stop = asyncio.Event()
    worker = runtime.pipeline_worker(consumer="groups")
    notifier = Notifier(notifier_parts(runtime), {})
    running = [
        asyncio.create_task(worker.run(stop)),
        asyncio.create_task(notifier.consumer.run(stop)),
    ]
    redis, keys = runtime.redis.client, runtime.redis.keys
    try:
        await runtime.gateway.submit(sms("g1", "小区路灯不亮"), open_ticket=True)
        await poll(lambda: _equals(ticket_count(runtime), 1), timeout=20)
        await redis.xgroup_destroy(keys.inbound, PIPELINE_GROUP)
        await redis.xgroup_destroy(keys.events, NOTIFIER_GROUP)
        await runtime.gateway.submit(sms("g2", "楼下垃圾没人清运", phone="+8613900000078"))
        await poll(lambda: _equals(ticket_count(runtime), 2), timeout=20)

        async def notifier_reads_again() -> bool:
            groups = await redis.xinfo_groups(keys.events)
            return any(g["name"] == NOTIFIER_GROUP for g in groups)

        await poll(notifier_reads_again, timeout=20)
        assert not any(task.done() for task in running)
    finally:
        stop.set()
        await asyncio.gather(*running)
        await notifier.close()


async def _equals(count: object, expected: int) -> bool:
    return await count == expected  # type: ignore[misc]
