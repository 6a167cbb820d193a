"""Flood benchmark: one phone floods the web API while other citizens submit at a low rate.

Starts `intake run` on 127.0.0.1 (embedded SQLite and Redis, or with `--servers` the
PostgreSQL and Redis of this machine) and drives it in two phases of `--seconds` each:
  quiet  other citizens only: `--rate` requests/s, each a new phone, spread over 20 loopback
         source addresses (127.0.1.x), as citizens come from many addresses;
  flood  the same, while one phone floods from its own address (127.0.0.2) over `--flood-
         connections` keep-alive connections, each request with a new Idempotency-Key.
Prints the tickets the flooding phone made against its configured limit, and for the other
citizens the p99 of the 201 answer and of the ticket's arrival in the database (polled every
20 ms) in both phases, with the flood/quiet ratio. Loopback only, bounded in time.

    python bench/flood_bench.py [--seconds 30] [--rate 5] [--flood-connections 16] [--servers]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.intake_bench import (
    PG_ADMIN,
    REDIS_URL,
    TEXTS,
    base_env,
    database_url,
    free_port,
    stop,
    wait_ready,
)
from bench.loadgen import request_bytes
from intake.config import LimitsSettings

FLOOD_PHONE = "13900000000"
FLOOD_ADDRESS = "127.0.0.2"
CITIZEN_ADDRESSES = [f"127.0.1.{n}" for n in range(1, 21)]
MAX_SECONDS, MAX_CONNECTIONS = 300.0, 64
POLL_S = 0.02


@dataclass
class Citizens:
    """The steady citizens of one phase: when each request was sent, answered and written."""

    sent: dict[str, float] = field(default_factory=dict)  # number -> send time
    answer_s: list[float] = field(default_factory=list)
    arrival_s: dict[str, float] = field(default_factory=dict)  # number -> sent..in database
    refused: int = 0


@dataclass
class Flood:
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def p99(values: list[float]) -> float:
    return pct(values, 0.99)


class Tickets:
    """Which ticket numbers are in the database yet (SQLite file or PostgreSQL)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._url = env.get("INTAKE_DATABASE_URL", "").replace("postgresql+asyncpg", "postgresql")
        self._path = Path(env["INTAKE_DATA_DIR"]) / "intake.sqlite3"
        self._pg: asyncpg.Connection | None = None

    async def open(self) -> None:
        if self._url:
            self._pg = await asyncpg.connect(self._url)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()

    async def present(self, numbers: list[str]) -> set[str]:
        if self._pg is not None:
            rows = await self._pg.fetch(
                "SELECT number FROM tickets WHERE number = ANY($1::text[])", numbers
            )
            return {r["number"] for r in rows}
        return await asyncio.to_thread(self._sqlite, numbers)

    def _sqlite(self, numbers: list[str]) -> set[str]:
        marks = ",".join("?" * len(numbers))
        with sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(f"SELECT number FROM tickets WHERE number IN ({marks})", numbers)
            return {row[0] for row in rows}

    async def of_phone(self, phone: str) -> int:
        if self._pg is not None:
            query = "SELECT count(*) FROM tickets WHERE contact_phone = $1"
            return int(await self._pg.fetchval(query, phone))
        with sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=5) as conn:
            query = "SELECT count(*) FROM tickets WHERE contact_phone = ?"
            return int(conn.execute(query, (phone,)).fetchone()[0])


def citizen_clients() -> list[httpx.AsyncClient]:
    """One client per citizen address (made once: each costs an SSL context)."""
    transports = [httpx.AsyncHTTPTransport(local_address=a) for a in CITIZEN_ADDRESSES]
    return [httpx.AsyncClient(transport=t, timeout=30) for t in transports]


async def citizens(
    clients: list[httpx.AsyncClient], port: int, rate: float, until: float, out: Citizens
) -> None:
    """A new citizen (phone, address) every 1/rate s, each request on its own schedule."""
    url = f"http://127.0.0.1:{port}/api/v1/requests"

    async def one(n: int) -> None:
        body = {
            "phone": f"137{random.randint(0, 99_999_999):08d}",
            "content": random.choice(TEXTS),
            "request_type": "complaint",
        }
        started = time.perf_counter()
        response = await clients[n % len(clients)].post(url, json=body)
        if response.status_code != 201:
            out.refused += 1
            return
        out.answer_s.append(time.perf_counter() - started)
        out.sent[response.json()["number"]] = started

    tasks = []
    n, next_at = 0, time.perf_counter()
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n)))
        n, next_at = n + 1, next_at + 1 / rate
    await asyncio.gather(*tasks)


async def flood(port: int, connections: int, until: float, out: Flood) -> None:
    body = {
        "phone": FLOOD_PHONE,
        "content": "同一个号码反复提交的诉求内容",
        "request_type": "complaint",
    }

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(FLOOD_ADDRESS, 0)
        )
        try:
            while time.perf_counter() < until:
                writer.write(request_bytes(port, "/api/v1/requests", body))
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                out.statuses[status] = out.statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))


async def arrivals(tickets: Tickets, phase: Citizens, stop_at: float) -> None:
    """Polls the database until every accepted request of the phase is a ticket."""
    while True:
        waiting = [n for n in phase.sent if n not in phase.arrival_s]
        if waiting:
            now = time.perf_counter()
            for number in await tickets.present(waiting):
                phase.arrival_s[number] = now - phase.sent[number]
        elif time.perf_counter() > stop_at:
            return
        if time.perf_counter() > stop_at + 60:
            return
        await asyncio.sleep(POLL_S)


async def phase(
    clients: list[httpx.AsyncClient],
    port: int,
    tickets: Tickets,
    args: argparse.Namespace,
    *,
    with_flood: bool,
) -> tuple[Citizens, Flood]:
    steady, flooded = Citizens(), Flood()
    until = time.perf_counter() + args.seconds
    poller = asyncio.create_task(arrivals(tickets, steady, until + 1))
    jobs = [citizens(clients, port, args.rate, until, steady)]
    if with_flood:
        jobs.append(flood(port, args.flood_connections, until, flooded))
    await asyncio.gather(*jobs)
    await poller
    return steady, flooded


async def warm_up(clients: list[httpx.AsyncClient], port: int, tickets: Tickets) -> None:
    """A few requests, until they are tickets, before measuring: a fresh pipeline's first
    batch loads the triage models, which is not what this measures."""
    warm, until = Citizens(), time.perf_counter() + 1
    await asyncio.gather(
        citizens(clients, port, 5, until, warm), arrivals(tickets, warm, until + 0.5)
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=5, help="other citizens' requests/s")
    parser.add_argument("--flood-connections", type=int, default=16)
    parser.add_argument("--servers", action="store_true", help="PostgreSQL and Redis servers")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), MAX_SECONDS)
    args.flood_connections = min(max(args.flood_connections, 1), MAX_CONNECTIONS)
    tmp = Path(tempfile.mkdtemp(prefix="intake-flood-"))
    env = base_env(tmp / "data")
    for name in ("INTAKE_LIMITS__ENABLED", "INTAKE_LIMITS__SUBMISSIONS_PER_IP"):
        env.pop(name, None)  # intake_bench turns the limits off; here they are what is measured
    admin, db, prefix = (
        None,
        f"intake_flood_{uuid.uuid4().hex[:8]}",
        f"flood:{uuid.uuid4().hex[:8]}:",
    )
    if args.servers:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{db}"')
        env.update(
            {
                "INTAKE_DATABASE_URL": database_url(db),
                "INTAKE_REDIS_URL": REDIS_URL,
                "INTAKE_REDIS_PREFIX": prefix,
            }
        )
    port = free_port()
    clients = citizen_clients()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run", "--port", str(port)], env=env
    )
    tickets = Tickets(env)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
        await tickets.open()
        await warm_up(clients, port, tickets)
        quiet, _ = await phase(clients, port, tickets, args, with_flood=False)
        flooded_citizens, flood_result = await phase(clients, port, tickets, args, with_flood=True)
        made = await tickets.of_phone("+86" + FLOOD_PHONE)
        report(args, quiet, flooded_citizens, flood_result, made)
    finally:
        stop(proc)
        await tickets.close()
        for client in clients:
            await client.aclose()
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.close()
            client = aioredis.from_url(REDIS_URL)
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
            await client.aclose()
        shutil.rmtree(tmp, ignore_errors=True)


def report(
    args: argparse.Namespace, quiet: Citizens, flooded: Citizens, flood: Flood, made: int
) -> None:
    limit = LimitsSettings().submissions_per_sender
    rate = flood.sent / args.seconds
    print(
        f"flood: one phone from one address, {args.flood_connections} connections, "
        f"{args.seconds:.0f} s: {flood.sent} requests ({rate:,.0f}/s), answers "
        f"{dict(sorted(flood.statuses.items()))}; tickets made by the flooding phone: {made} "
        f"(limit per sender {limit!r})"
    )
    for name, data in (("quiet", quiet), ("flood", flooded)):
        arrived = list(data.arrival_s.values())
        print(
            f"other citizens, {name}: {len(data.answer_s)} accepted, {data.refused} refused, "
            f"{len(arrived)} in the database; 201 answer p50 {pct(data.answer_s, 0.5):.1f} ms "
            f"p99 {p99(data.answer_s):.1f} ms; arrival in the database p50 "
            f"{pct(arrived, 0.5):.1f} ms p99 {p99(arrived):.1f} ms"
        )
    answer = p99(flooded.answer_s) / max(p99(quiet.answer_s), 0.001)
    arrival = p99(list(flooded.arrival_s.values())) / max(
        p99(list(quiet.arrival_s.values())), 0.001
    )
    print(
        f"flood/quiet p99 ratio: 201 answer {answer:.2f}x, arrival in the database {arrival:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
