"""One Redis round trip for what concurrent jobs ask at the same moment.

The jobs of a batch run side by side and reach the same step (read the send state, take a
token, mark "sending") in the same turn of the event loop. A `Coalescer` gathers the items
submitted during that turn and hands them to one batch function (a pipeline, one Lua call);
each caller gets its own result back, in the order it asked. Per caller nothing changes:
a job still awaits its "sending" mark before it sends, so the guard keeps its meaning.
When Redis is unreachable each caller gets an `Unavailable` of its own (an edge answers 503
with Retry-After: nothing was acknowledged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from intake.domain.errors import Unavailable

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    def __init__(self, flush: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._flush = flush
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._start)  # after everyone runnable in this turn has asked
        self._pending.append((item, future))
        return await future

    def _start(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(_for_caller(exc))
            return
        except BaseException:  # cancelled with the loop: so are the callers
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its caller may have been cancelled meanwhile
                future.set_result(result)


def _for_caller(exc: Exception) -> Exception:
    """Redis unreachable as an `Unavailable` per caller (one exception object raised in many
    tasks would collect all their tracebacks); anything else as it is."""
    if not isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return exc
    unavailable = Unavailable("redis is unavailable; try again shortly")
    unavailable.__cause__ = exc
    return unavailable
