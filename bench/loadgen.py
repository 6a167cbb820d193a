"""A small keep-alive HTTP/1.1 load generator (asyncio streams), light enough to leave the
CPU to the server under test. Bounded in time and count; talks to 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def summary(self, name: str) -> str:
        return (
            f"{name}: {self.ok / self.seconds:,.0f} req/s accepted ({self.ok} in "
            f"{self.seconds:.1f} s), p50 {self.pct(0.5):.1f} ms, p99 {self.pct(0.99):.1f} ms, "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


def request_bytes(port: int, path: str, body: dict[str, object]) -> bytes:
    payload = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: {uuid.uuid4().hex}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _client(
    port: int, make: Callable[[], bytes], stop_at: float, result: LoadResult, keep_bodies: bool
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(make())
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if keep_bodies and 200 <= status < 300:
                result.bodies.append(body)
    finally:
        writer.close()


async def run_load(
    *, port: int, make: Callable[[], bytes], clients: int, seconds: float, keep_bodies: bool = False
) -> LoadResult:
    result = LoadResult(seconds=seconds)
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(
        *(_client(port, make, stop_at, result, keep_bodies) for _ in range(clients))
    )
    return result
