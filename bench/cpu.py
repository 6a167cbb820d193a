"""Where the CPU went during a run: per service process (with its children), and the shared
PostgreSQL and Redis servers, read from /proc. On a 2-core machine the end-to-end rate is the
CPU budget divided by the CPU per ticket, so this is the figure to drive down."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_SERVERS = {"postgres": "PostgreSQL", "redis-server": "Redis"}


def _stat(pid: int) -> tuple[str, int, float] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    parent = int(fields[1])
    # utime, stime, cutime, cstime: the children's share counts once they are reaped
    seconds = sum(int(value) for value in fields[11:15]) / _TICK
    return comm, parent, seconds


def snapshot(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far for each named root process and its live descendants (but for other
    named roots), and for every PostgreSQL and Redis server process on the machine."""
    stats = {
        pid: s for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()) if (s := _stat(pid))
    }
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    named = set(roots.values())
    totals: dict[str, float] = {}
    for name, root in roots.items():
        todo, seconds = [root], 0.0
        while todo:
            pid = todo.pop()
            if pid in stats:
                seconds += stats[pid][2]
            todo.extend(child for child in children.get(pid, []) if child not in named)
        totals[name] = totals.get(name, 0.0) + seconds
    for comm, _, seconds in stats.values():
        if comm in _SERVERS:
            totals[_SERVERS[comm]] = totals.get(_SERVERS[comm], 0.0) + seconds
    return totals


def report(before: dict[str, float], after: dict[str, float], items: int, label: str) -> str:
    """One line: CPU ms per item for each part, and the total."""
    parts = []
    total = 0.0
    for name in after:
        spent = after[name] - before.get(name, 0.0)
        total += spent
        parts.append(f"{name} {spent * 1000 / max(items, 1):.2f}")
    return (
        f"CPU ms per {label}: " + ", ".join(parts) + f"; total {total * 1000 / max(items, 1):.2f}"
    )


async def wait_quiet(roots: dict[str, int], *, share: float = 0.05, at_most: float = 60.0) -> None:
    """Until the service processes have finished starting (loading dictionaries and
    catalogues uses a core for a second or so): startup is not per-ticket cost."""
    deadline = time.monotonic() + at_most
    before = snapshot(roots)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        after = snapshot(roots)
        busy = max(after[name] - before.get(name, 0.0) for name in roots)
        if busy < share * 0.5:
            return
        before = after
