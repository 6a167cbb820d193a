"""Stopping endless loops that Python 3.11's `asyncio.wait_for` may have kept alive.

In 3.11, `wait_for` returns the inner result instead of raising `CancelledError` when the
inner future finished in the same loop turn as the cancel (CPython gh-86296, fixed in 3.12 by
building `wait_for` on `asyncio.timeout`). A reader loop that never awaits anything else
would then run on after `task.cancel()`, and whoever awaits the task hangs for good. The
request to stop is not lost: the task's `cancelling()` count stays above zero, so each lap of
such a loop asks for it.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise `CancelledError` when this task was cancelled and something swallowed it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
