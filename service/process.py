"""How the long-running processes start: the event loop they run on and the heap they settle.

uvloop (installed with uvicorn[standard]) runs the same asyncio code with a faster loop;
`intake serve` gets it from uvicorn, `intake run` and `intake worker` from `run_async`.

After start-up a process holds a large, permanent heap: the triage dictionaries, jieba's
word list, compiled templates. Python's cyclic garbage collector walks all of it in every
full collection, which under load showed as pauses of tens of milliseconds in the latency
tail. `settle_heap` moves what start-up built out of the collector's way (`gc.freeze`) and
collects the young generation less often: the request path allocates many short-lived
objects, almost none of them in cycles.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

YOUNG_THRESHOLD = 20_000  # allocations between young collections (Python's default: 700)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not on every platform; the standard loop works the same
        return None
    return uvloop.new_event_loop


def run_async(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)


def settle_heap() -> None:
    """Call once start-up is done (catalogues loaded, connections open)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
