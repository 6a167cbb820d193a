"""SMS benchmark: MO through the real Kannel into `intake run`, and outbound sends.

(a) Intake. A real Kannel (bearerbox + smsbox + fake SMSC, fakesmsc as the handsets) whose
    get-url points at `intake run`, started as a user starts it (a config file with the SMS
    section; embedded SQLite + Redis, or the PostgreSQL and Redis servers of this machine).
    `--mo` Chinese MO messages from as many numbers are injected with fakesmsc as fast as it
    takes them (or at `--rate`). Measured: MO/s into the gateway, tickets/s (first MO to last
    ticket in the database) and the acknowledgement round trip (MO into fakesmsc → the
    notifier's ack SMS, sent through KannelSender, back at fakesmsc). Target: 300 MO/s.
(b) Outbound. KannelSender with the per-gateway Redis token bucket hands `--mt` SMS to smsbox
    from `--senders` concurrent tasks: sends/s with the limit above the target (1,000/s), then
    with a low limit, where no one-second window may exceed rate + burst. Every MT is checked
    to have reached fakesmsc; the DLRs go to a small sink that counts them.

    python bench/sms_bench.py [--mo 3000] [--mt 5000] [--backend servers|embedded|both]

127.0.0.1 only; bounded in count and time (`--limit`); every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_from_bytes

import asyncpg
import redis.asyncio as aioredis
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import (
    PG_ADMIN,
    REDIS_URL,
    base_env,
    count_tickets,
    database_url,
    free_port,
    stop,
)
from bench.intake_bench import wait_ready as wait_http
from channels.base import OutboundMessage
from channels.sms.kannel_out import KannelSender
from channels.sms.settings import SmsSettings
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.ratelimit.buckets import RedisTokenBucket
from tests.sms.kannel_peer import (
    PASSWORD,
    SECRET,
    USER,
    KannelPeer,
    binaries_missing,
    parse_mt,
    start_kannel,
)

TEXTS = [
    "幸福路{}号楼下烧烤店油烟扰民，晚上十点后还在营业",
    "建设路口{}号路灯坏了一个星期，晚上很黑",
    "小区{}栋停水两天了，物业说不清楚什么时候恢复",
    "学校门口{}路公交站台破损，建议维修",
]
TICKS_S = 0.005  # fakesmsc reads its SMSC socket only between stdin lines: keep it busy


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def phone(run: int, i: int) -> str:
    return f"+86139{run:03d}{i:05d}"


def mo_line(number: str, i: int) -> str:
    text = TEXTS[i % len(TEXTS)].format(i)
    return f"{number} 12345 ucs2 {quote_from_bytes(text.encode('utf-16-be'), safe='')}"


class Injector(threading.Thread):
    """Writes MO lines to fakesmsc (one write each, optionally paced), then empty lines
    until stopped so that fakesmsc keeps reading what the SMSC sends it."""

    def __init__(self, peer: KannelPeer, lines: list[tuple[str, str]], rate: float) -> None:
        super().__init__(daemon=True)
        self.peer, self.lines, self.rate = peer, lines, rate
        self.sent: dict[str, float] = {}
        self.done = threading.Event()
        self.halt = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        for n, (number, line) in enumerate(self.lines):
            if self.rate and (ahead := start + n / self.rate - time.perf_counter()) > 0:
                time.sleep(ahead)
            self.sent[number] = time.perf_counter()
            self.peer.inject_mo(line)
        self.done.set()
        while not self.halt.wait(TICKS_S):
            self.peer.inject_mo("")


def first_mt(peer: KannelPeer) -> dict[str, float]:
    """When the first SMS to each number reached fakesmsc."""
    seen: dict[str, float] = {}
    for line, at in zip(list(peer.mt_lines), list(peer.mt_seen), strict=False):
        seen.setdefault(parse_mt(line).receiver, at)
    return seen


def write_config(path: Path, peer: KannelPeer, dlr_mask: int) -> None:
    config = {
        "sms": {
            "provider": "kannel",
            "kannel_url": peer.kannel_url,
            "kannel_user": USER,
            "kannel_password": PASSWORD,
            "inbound_secret": SECRET,
            "sender": "12345",
            "signature": "12345热线",
            "rate_per_second": 2000,
            "burst": 200,
            "dlr_mask": dlr_mask,
        },
        "notify": {
            "rates": {"sms": {"rate": 2000, "burst": 500}},
            "quiet_hours": "00:00-00:00",  # an empty window: the bench runs at any hour
        },
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


async def intake_run(
    name: str, env: dict[str, str], args: argparse.Namespace, tmp: Path, run: int
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    peer = await asyncio.to_thread(
        start_kannel, tmp / f"kannel-{name}", callback_base=base, interval=0, log_level=3
    )
    write_config(tmp / f"{name}.yaml", peer, args.dlr_mask)
    env = {**env, "INTAKE_CONFIG_FILE": str(tmp / f"{name}.yaml"), "INTAKE_PUBLIC_URL": base}
    cli = [sys.executable, "-m", "service.cli", "run", "--port", str(port)]
    proc = subprocess.Popen(cli, env=env, cwd=ROOT)
    try:
        await wait_http(f"{base}/healthz", proc)
        await measure_intake(name, peer, env, args, run)
    finally:
        stop(proc)
        await asyncio.to_thread(peer.stop)


def service_redis(env: dict[str, str]) -> aioredis.Redis:
    """The service's Redis: the configured server, or the embedded one of its data folder."""
    if url := env.get("INTAKE_REDIS_URL"):
        return aioredis.from_url(url)
    found = Path(env["INTAKE_DATA_DIR"]) / "redis" / "intake.rdb.settings"
    return aioredis.Redis(unix_socket_path=json.loads(found.read_text())["unixsocket"])


async def accepted(redis: aioredis.Redis, env: dict[str, str], tickets: int) -> int:
    """MO made durable by the service so far: entries ever added to its intake stream, or
    (Redis 6, the embedded one, does not count them) those waiting plus those made tickets."""
    stream = f"{env.get('INTAKE_REDIS_PREFIX', 'intake:')}stream:inbound"
    if not await redis.exists(stream):
        return 0
    added = (await redis.xinfo_stream(stream)).get("entries-added")
    return int(added) if added is not None else int(await redis.xlen(stream)) + tickets


async def scalar(env: dict[str, str], sql: str) -> int:
    """One number from the service's database (PostgreSQL, or the SQLite file)."""
    if url := env.get("INTAKE_DATABASE_URL"):
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()
    with sqlite3.connect(Path(env["INTAKE_DATA_DIR"]) / "intake.sqlite3") as conn:
        return int(conn.execute(sql).fetchone()[0])


@dataclass
class Seen:
    """How far the service got, and when (perf_counter)."""

    accepted: int = 0
    accepted_at: float = 0.0
    tickets: int = 0
    tickets_at: float = 0.0
    acks: dict[str, float] = field(default_factory=dict)


async def measure_intake(
    name: str, peer: KannelPeer, env: dict[str, str], args: argparse.Namespace, run: int
) -> None:
    lines = [(phone(run, i), mo_line(phone(run, i), i)) for i in range(args.mo)]
    injector = Injector(peer, lines, args.rate)
    deadline = time.perf_counter() + args.limit
    redis, seen = service_redis(env), Seen()
    injector.start()
    try:
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
            await look(seen, redis, env, peer, injector)
            if injector.done.is_set() and seen.tickets >= args.mo and len(seen.acks) >= args.mo:
                break
        while time.perf_counter() < deadline:  # the last DLRs (retried every 2 s when early)
            if await reported(env) >= len(seen.acks):
                break
            await asyncio.sleep(0.2)
    finally:
        injector.halt.set()
        await redis.aclose()
    report_intake(name, injector, seen, args)
    print(f"[{name}] acknowledgements with their DLR recorded (delivered): {await reported(env)}")


async def reported(env: dict[str, str]) -> int:
    sql = (
        "SELECT count(*) FROM deliveries WHERE job_key LIKE 'ack:%' AND report_state = 'delivered'"
    )
    return await scalar(env, sql)


async def look(
    seen: Seen, redis: aioredis.Redis, env: dict[str, str], peer: KannelPeer, injector: Injector
) -> None:
    now = time.perf_counter()
    if (count := await count_tickets(env)) > seen.tickets:
        seen.tickets, seen.tickets_at = count, now
    if (count := await accepted(redis, env, seen.tickets)) > seen.accepted:
        seen.accepted, seen.accepted_at = min(count, len(injector.lines)), now
    seen.acks = {n: t for n, t in first_mt(peer).items() if n in injector.sent}


def report_intake(name: str, injector: Injector, seen: Seen, args: argparse.Namespace) -> None:
    sent, acks = injector.sent, seen.acks
    first = min(sent.values())
    trips = [acks[n] - sent[n] for n in acks]
    ticket_rate = seen.tickets / max(seen.tickets_at - first, 1e-9)
    print(
        f"[{name}] MO through Kannel made durable by the service: {seen.accepted}/{args.mo} in "
        f"{seen.accepted_at - first:.2f} s = "
        f"{seen.accepted / max(seen.accepted_at - first, 1e-9):,.0f} MO/s"
    )
    verdict = (
        f"offered {args.rate:,.0f} MO/s"
        if args.rate
        else "target 300 MO/s: " + ("met" if ticket_rate >= 300 else "NOT met")
    )
    print(
        f"[{name}] tickets: {seen.tickets}/{args.mo} in {seen.tickets_at - first:.2f} s from "
        f"the first MO = {ticket_rate:,.0f} tickets/s ({verdict})"
    )
    if trips:
        span = max(acks.values()) - first
        print(
            f"[{name}] ack SMS back at fakesmsc: {len(acks)}/{args.mo}, {len(acks) / span:,.0f}/s;"
            f" round trip p50 {pct(trips, 0.5):.2f} s, p90 {pct(trips, 0.9):.2f} s, "
            f"p99 {pct(trips, 0.99):.2f} s, max {max(trips):.2f} s"
        )


# ----------------------------------------------------------------------------- outbound

SINK = r"""
import asyncio, collections, signal, sys
counts = collections.Counter()
async def handle(reader, writer):
    while (line := await reader.readline()):
        status = line.split(b"status=", 1)[-1].split(b"&", 1)[0].split(b" ", 1)[0]
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        counts[status.decode()] += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    await done.wait()
    print(dict(counts), flush=True)
asyncio.run(main())
"""


class Stamped:
    """The limiter in the path, noting when each send was let through (for the window check)."""

    def __init__(self, inner: RedisTokenBucket) -> None:
        self.inner, self.stamps = inner, list[float]()

    async def acquire(self) -> None:
        await self.inner.acquire()
        self.stamps.append(time.perf_counter())


async def send_all(
    sender: KannelSender, count: int, senders: int, offset: int, deadline: float
) -> list[float]:
    """`count` sends from `senders` tasks; the perf_counter() of each accepted one."""
    done: list[float] = []
    todo = iter(range(offset, offset + count))

    async def worker() -> None:
        for i in todo:
            if time.perf_counter() > deadline:
                return
            to = SenderIdentity(IdentityKind.PHONE, f"+86138{i:08d}")
            text = f"您的工单{20260310000000 + i}已受理，查询码K7Q2MZ9P。"
            await sender.send(OutboundMessage(to, text, job_key=f"bench:{i}"))
            done.append(time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(senders)))
    return done


def busiest_second(stamps: list[float]) -> int:
    ordered, best, lo = sorted(stamps), 0, 0
    for hi, at in enumerate(ordered):
        while at - ordered[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def outbound(args: argparse.Namespace, tmp: Path) -> None:
    sink_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(sink_port)], stdout=subprocess.PIPE, text=True
    )
    peer = await asyncio.to_thread(
        start_kannel, tmp / "kannel-out", callback_base="http://127.0.0.1:9", log_level=3
    )
    redis = aioredis.from_url(REDIS_URL)
    prefix = f"bench:sms:{uuid.uuid4().hex[:8]}:"
    injector = Injector(peer, [], 0)  # only ticks: fakesmsc keeps reading MT promptly
    injector.start()
    try:
        settings = SmsSettings(
            kannel_url=peer.kannel_url,
            kannel_user=USER,
            kannel_password=PASSWORD,
            inbound_secret=SECRET,
            public_url=f"http://127.0.0.1:{sink_port}",
            sender="12345",
            signature="12345热线",
            max_connections=args.senders,
        )
        runs = [("high limit", 5000.0, 500, args.mt), ("low limit", 300.0, 50, args.mt_low)]
        offset = 0
        for label, rate, burst, count in runs:
            bucket = Stamped(RedisTokenBucket(redis, f"{prefix}{label}", rate=rate, burst=burst))
            sender = KannelSender(settings, limiter=bucket)
            start = time.perf_counter()
            stamps = await send_all(sender, count, args.senders, offset, start + args.limit)
            took = time.perf_counter() - start
            await sender.aclose()
            offset += count
            print(
                f"[outbound, {label} {rate:,.0f}/s burst {burst}] {len(stamps)} SMS handed "
                f"to smsbox in {took:.2f} s = {len(stamps) / took:,.0f} SMS/s; most let "
                f"through in one second {busiest_second(bucket.stamps)} (bucket allows "
                f"{rate + burst:,.0f})"
            )
        await report_mt(peer, offset, args.limit)
    finally:
        injector.halt.set()
        await redis.delete(*[k async for k in redis.scan_iter(match=f"{prefix}*")] or ["-"])
        await redis.aclose()
        await asyncio.to_thread(peer.stop)
        sink.terminate()
        print(f"[outbound] DLRs at the sink by status: {sink.communicate(timeout=10)[0].strip()}")


async def report_mt(peer: KannelPeer, expected: int, limit: float) -> None:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        got = {parse_mt(line).receiver for line in list(peer.mt_lines)}
        if len(got) >= expected:
            break
        await asyncio.sleep(0.2)
    print(f"[outbound] {len(got)}/{expected} SMS reached fakesmsc (UCS-2, through bearerbox)")


# ----------------------------------------------------------------------------- main


async def with_servers(args: argparse.Namespace, tmp: Path, run: int) -> None:
    db = f"intake_smsbench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{db}"')
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    env = base_env(tmp / "servers")
    env |= {
        "INTAKE_DATABASE_URL": database_url(db),
        "INTAKE_REDIS_URL": REDIS_URL,
        "INTAKE_REDIS_PREFIX": prefix,
    }
    try:
        await intake_run("servers", env, args, tmp, run)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
        client = aioredis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mo", type=int, default=3000, help="MO messages to inject")
    parser.add_argument("--rate", type=float, default=0, help="MO/s offered (0: fakesmsc's max)")
    parser.add_argument("--mt", type=int, default=5000, help="outbound SMS, high limit")
    parser.add_argument("--mt-low", type=int, default=1500, help="outbound SMS, low limit")
    parser.add_argument("--senders", type=int, default=64, help="concurrent send tasks")
    parser.add_argument("--dlr-mask", type=int, default=23, help="DLRs the service asks for")
    parser.add_argument("--backend", choices=["servers", "embedded", "both"], default="both")
    parser.add_argument("--skip", choices=["intake", "outbound"], default=None)
    parser.add_argument("--limit", type=float, default=120, help="seconds per phase, at most")
    args = parser.parse_args()
    if missing := binaries_missing():
        sys.exit(f"Kannel is not installed ({', '.join(missing)}): apt-get install kannel-extras")
    print(f"{os.cpu_count()} CPUs; MO {args.mo}, MT {args.mt} + {args.mt_low}")
    tmp = Path(tempfile.mkdtemp(prefix="sms-bench-"))
    run = int(time.time()) % 1000
    try:
        if args.skip != "intake" and args.backend in ("embedded", "both"):
            await intake_run("embedded", base_env(tmp / "embedded"), args, tmp, run)
        if args.skip != "intake" and args.backend in ("servers", "both"):
            await with_servers(args, tmp, run)
        if args.skip != "outbound":
            await outbound(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
