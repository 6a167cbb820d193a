"""The gateway: submissions made at the same moment share one Redis call, each keeps its own
receipt, and a guarded submission is held while its guard keys exist."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from intake.runtime import Runtime
from tests.core.helpers import drain, ticket_count
from tests.core.test_pipeline import sms


async def test_concurrent_submissions_share_one_call_and_keep_their_receipts(
    runtime: Runtime,
) -> None:
    messages = [sms(f"c{i}", f"第{i}条：路灯坏了", phone=f"+86139000000{i:02d}") for i in range(20)]
    gateway = runtime.gateway
    script = gateway._accept
    calls: list[int] = []

    async def counted(*, keys: list[str], args: list[Any]) -> Any:
        calls.append(len(keys) // 3)
        return await script(keys=keys, args=args)

    gateway._accept = counted  # type: ignore[assignment]
    receipts = await asyncio.gather(
        *(runtime.gateway.submit(m, open_ticket=True) for m in messages),
        runtime.gateway.submit(messages[0], open_ticket=True),  # a retry in the same call
    )
    assert calls == [21], f"script calls (messages in each): {calls}"
    numbers = [r.number for r in receipts[:20]]
    assert len(set(numbers)) == 20 and all(numbers)
    assert not any(r.duplicate for r in receipts[:20])
    retry = receipts[20]
    assert retry.duplicate and retry.number == receipts[0].number
    assert retry.entry_id == receipts[0].entry_id
    await drain(runtime)
    assert await ticket_count(runtime) == 20


async def test_a_guarded_submission_is_held_while_a_guard_key_exists(runtime: Runtime) -> None:
    guard = runtime.redis.keys.prefix + "test:draft"
    await runtime.redis.client.set(guard, "1")
    held = await runtime.gateway.submit_unless(sms("g1", "路灯坏了"), [guard, guard + ":other"])
    assert held is None
    assert await runtime.redis.client.xlen(runtime.redis.keys.inbound) == 0

    await runtime.redis.client.delete(guard)
    receipt = await runtime.gateway.submit_unless(sms("g1", "路灯坏了"), [guard])
    assert receipt is not None and not receipt.duplicate

    # once accepted, a message stays accepted: its retry gets the receipt, guard or not
    await runtime.redis.client.set(guard, "1")
    again = await runtime.gateway.submit_unless(sms("g1", "路灯坏了"), [guard])
    assert again is not None and again.duplicate and again.entry_id == receipt.entry_id
    await runtime.redis.client.delete(guard)


@pytest.mark.parametrize("guards", [[], ["a\tb", 'c"d']])
async def test_guards_that_do_not_exist_change_nothing(runtime: Runtime, guards: list[str]) -> None:
    receipt = await runtime.gateway.submit_unless(sms("n1", "噪音扰民"), guards)
    assert receipt is not None and not receipt.duplicate
    await drain(runtime)
    assert await ticket_count(runtime) == 1


async def test_any_key_name_can_guard(runtime: Runtime) -> None:
    guard = runtime.redis.keys.prefix + 'draft:\t"x"'
    await runtime.redis.client.set(guard, "1")
    assert await runtime.gateway.submit_unless(sms("k1", "噪音扰民"), ["other", guard]) is None
    await runtime.redis.client.delete(guard)
