"""A cancel that Python 3.11's `asyncio.wait_for` swallowed still ends a reader's loop."""

from __future__ import annotations

import asyncio

from intake.cancellation import stop_if_cancelled


async def test_a_cancel_that_wait_for_swallowed_still_ends_the_loop() -> None:
    laps: list[asyncio.Future[None]] = []

    async def reader_loop() -> None:  # the shape of the e-mail reader and the pollers
        while True:
            stop_if_cancelled()
            lap: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            laps.append(lap)
            await asyncio.wait_for(lap, 5)

    task = asyncio.create_task(reader_loop())
    await asyncio.sleep(0)
    assert len(laps) == 1

    def answer_and_cancel() -> None:  # the server's answer lands in the same turn as the stop
        laps[0].set_result(None)
        task.cancel()

    asyncio.get_running_loop().call_soon(answer_and_cancel)
    await asyncio.wait({task}, timeout=2)
    assert task.cancelled()
    assert len(laps) == 1  # no second lap: on 3.11 the guard stopped it, on 3.12 wait_for did


async def test_a_loop_that_is_not_cancelled_runs_on() -> None:
    async def one_lap() -> int:
        stop_if_cancelled()
        return 1

    assert await one_lap() == 1
    stop_if_cancelled()  # outside any cancelled task: nothing happens
