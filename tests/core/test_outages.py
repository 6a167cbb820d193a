"""Redis killed with -9 and PostgreSQL stopped under a steady stream of web submissions: the
same `intake run` goes on by itself, and every acknowledged request becomes one ticket.

The test runs its own servers (`tests.fault_servers`): Redis with an append-only file synced
on every write, restarted on the same port and folder; a PostgreSQL cluster stopped with
`pg_ctl stop -m fast` and started again. Clients behave like real ones: each request carries an
Idempotency-Key and is sent again after a 503 or a refused connection.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.fault_servers import PostgresCluster, RedisServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TOTAL = 600  # submissions, each retried until acknowledged
CLIENTS = 4
PACE_S = 0.04  # between one client's requests: a steady stream, not a flood
REDIS_DOWN_S = 3.0
POSTGRES_DOWN_S = 5.0


@dataclass
class Stream:
    """What the clients saw: numbers acknowledged per request, statuses with their time."""

    numbers: dict[int, str] = field(default_factory=dict)
    statuses: list[tuple[float, int]] = field(default_factory=list)
    refused: int = 0  # connections refused or dropped (none expected: HTTP stays up)

    def seen(self, status: int, start: float, end: float) -> list[int]:
        return [s for at, s in self.statuses if start <= at <= end and s == status]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[RedisServer, PostgresCluster]]:
    redis = RedisServer(tmp_path / "redis").start()
    cluster = PostgresCluster()
    try:
        cluster.init().start()
        yield redis, cluster
    finally:
        redis.stop()
        cluster.destroy()


@pytest.fixture
async def service(
    servers: tuple[RedisServer, PostgresCluster], tmp_path: Path
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str, Path, str]]:
    redis, cluster = servers
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(
        {
            "INTAKE_DATA_DIR": str(tmp_path / "data"),
            "INTAKE_REDIS_URL": redis.url,
            "INTAKE_DATABASE_URL": cluster.url,
            "INTAKE_REDIS_PREFIX": "outage:",
            "INTAKE_LIMITS__ENABLED": "false",  # one address files every request here
            "INTAKE_PIPELINE__CLAIM_IDLE_MS": "2000",
            "INTAKE_LOG_LEVEL": "INFO",
        }
    )
    port, log = free_port(), tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_healthy(base, proc, log)
        warm_up = await _until_pipeline_runs(base, cluster.url, log)
        yield proc, base, log, warm_up
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_redis_kill_and_postgres_stop_lose_and_double_nothing(
    servers: tuple[RedisServer, PostgresCluster],
    service: tuple[subprocess.Popen[bytes], str, Path, str],
) -> None:
    redis, cluster = servers
    proc, base, log, warm_up = service
    stream, started = Stream(), time.monotonic()
    clock: dict[str, float] = {}

    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(TOTAL):
            queue.put_nowait(i)
        clients = [asyncio.create_task(_client(http, queue, stream)) for _ in range(CLIENTS)]
        try:
            await _until(lambda: len(stream.numbers) >= 60, "60 acknowledged before Redis dies")
            redis.kill()
            clock["redis_down"] = time.monotonic()
            await asyncio.sleep(REDIS_DOWN_S)
            redis.start()
            clock["redis_up"] = time.monotonic()
            await _until(lambda: len(stream.numbers) >= 200, "200 acknowledged after Redis")
            await asyncio.to_thread(cluster.stop, "fast")
            clock["postgres_down"] = time.monotonic()
            await asyncio.sleep(POSTGRES_DOWN_S)
            await asyncio.to_thread(cluster.start)
            clock["postgres_up"] = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
        finally:
            for client in clients:
                client.cancel()

        acknowledged = set(stream.numbers.values())
        assert len(stream.numbers) == TOTAL and len(acknowledged) == TOTAL
        tickets = await _until_tickets(cluster.url, acknowledged, log)
        tickets.pop(warm_up)
        assert set(tickets) == acknowledged, "acknowledged requests that are no ticket"
        assert set(tickets.values()) == {1}, "a request that became two tickets"

        assert proc.poll() is None, "intake run died"
        health = await http.get("/healthz")
        assert health.status_code == 200, health.text

    statuses = {s for _, s in stream.statuses}
    assert statuses <= {200, 201, 503}, f"unexpected answers: {sorted(statuses)}"
    during_redis = (clock["redis_down"], clock["redis_up"])
    assert stream.seen(503, *during_redis), "no 503 while Redis was down"
    assert not stream.seen(201, clock["redis_down"] + 0.5, clock["redis_up"] - 0.2), (
        "acknowledged while Redis was down"
    )
    during_postgres = (clock["postgres_down"] + 0.5, clock["postgres_up"] - 0.2)
    assert stream.seen(201, *during_postgres), "the stream stopped taking requests without SQL"
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]
    assert time.monotonic() - started < 110


async def _client(http: httpx.AsyncClient, queue: asyncio.Queue[int], stream: Stream) -> None:
    """Submits until the queue is empty; each request again after a 503 or a dropped link."""
    while not queue.empty():
        i = queue.get_nowait()
        body = {"phone": f"139{i:08d}", "content": f"第{i}件事：小区门口路灯不亮，请尽快修复"}
        headers = {"Idempotency-Key": f"outage-{i}"}
        while True:
            try:
                answer = await http.post("/api/v1/requests", json=body, headers=headers)
            except httpx.TransportError:
                stream.refused += 1
                await asyncio.sleep(0.1)
                continue
            stream.statuses.append((time.monotonic(), answer.status_code))
            if answer.status_code in (200, 201):
                stream.numbers[i] = answer.json()["number"]
                break
            assert answer.status_code == 503, f"{answer.status_code}: {answer.text[:300]}"
            assert answer.headers.get("Retry-After"), "503 without Retry-After"
            await asyncio.sleep(0.1)
        await asyncio.sleep(PACE_S)


async def _until(predicate: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _until_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    async with httpx.AsyncClient() as http:
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            await asyncio.sleep(0.1)


async def _until_pipeline_runs(base: str, url: str, log: Path) -> str:
    """One request all the way to a ticket: the pipeline (maybe a child process) is up."""
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        body = {"phone": "13700000000", "content": "热身：小区东门路灯不亮"}
        answer = await http.post("/api/v1/requests", json=body)
    assert answer.status_code == 201, answer.text
    number = str(answer.json()["number"])
    await _until_tickets(url, {number}, log)
    return number


async def _until_tickets(url: str, numbers: set[str], log: Path) -> dict[str, int]:
    """Ticket numbers in the database with how many tickets carry each, once all are there."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    deadline = time.monotonic() + 45
    while True:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT number, count(*) AS n FROM tickets GROUP BY number")
        finally:
            await conn.close()
        found = {str(r["number"]): int(r["n"]) for r in rows}
        if numbers <= set(found):
            return found
        missing = len(numbers - set(found))
        assert time.monotonic() < deadline, (
            f"{missing} acknowledged requests never became tickets:\n"
            + log.read_text(errors="replace")[-4000:]
        )
        await asyncio.sleep(0.2)
