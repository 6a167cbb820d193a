"""Notifier benchmark (issue 6): 50,000 notifications through the real delivery path.

Each job goes through saq (enqueue, schedule, dequeue), the delivery record check, the
ticket and routes lookup, the send-state markers, the token buckets (per channel and per
recipient) and the database record of the outcome; the senders are local in-process sinks,
one per channel (sms, email, wechat). A share of the jobs is scheduled a few seconds ahead;
their lateness (sent at − due at) is measured. Prints deliveries/s per channel and overall,
p50/p99 lateness, and the ratio to the 2,000 deliveries/s target.

Run: `python bench/notifier_bench.py [--n 50000] [--processes 4] [--database-url URL]`
(Redis from $INTAKE_REDIS_URL or 127.0.0.1:6379; SQLite in a temporary folder by default).
Bounded: gives up after --limit seconds and reports what was delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channels.base import OutboundMessage, SendResult
from intake.clock import utcnow
from intake.config import load_settings
from intake.models import Citizen, CitizenIdentity, Ticket
from intake.runtime import Runtime
from notifier.jobs import JobSpec
from notifier.service import Notifier

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
    "concurrency": 64,
}


class Sink:
    """A local sender that records when each job key arrived."""

    def __init__(self, channel: str, redis: Any, prefix: str) -> None:
        self.channel = channel
        self.redis = redis
        self.key = f"{prefix}bench:sent"

    async def send(self, message: OutboundMessage) -> SendResult:
        await self.redis.hset(self.key, message.job_key, f"{self.channel} {time.time():.4f}")
        return SendResult(provider_id=message.job_key)


def settings_for(args: argparse.Namespace, prefix: str, data_dir: str) -> Any:
    return load_settings(
        data_dir=Path(data_dir),
        redis_url=args.redis_url,
        redis_prefix=prefix,
        database_url=args.database_url,
        notify=dict(NOTIFY),
        redis_fsync="everysec",
    )


async def seed(runtime: Runtime) -> dict[str, list[str]]:
    """Tickets with a citizen identity on each channel, written in bulk."""
    numbers: dict[str, list[str]] = {}
    now = utcnow()
    async with runtime.db.write() as session, session.begin():
        for c_index, (channel, (kind, pattern)) in enumerate(CHANNELS.items()):
            numbers[channel] = []
            for i in range(TICKETS_PER_CHANNEL):
                serial = c_index * TICKETS_PER_CHANNEL + i
                citizen = Citizen(name=f"市民{serial}", created_at=now)
                session.add(
                    CitizenIdentity(
                        citizen=citizen,
                        kind=kind,
                        value=pattern.format(serial),
                        account="",
                        created_at=now,
                    )
                )
                number = f"20260310{serial:06d}"
                session.add(
                    Ticket(
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
                )
                numbers[channel].append(number)
    return numbers


async def enqueue(
    notifier: Notifier, numbers: dict[str, list[str]], n: int, scheduled_share: float, ahead: float
) -> dict[str, float]:
    """n jobs round-robin over the tickets; every k-th one due `ahead` seconds from now."""
    due: dict[str, float] = {}
    flat = [num for channel in CHANNELS for num in numbers[channel]]
    every = max(1, round(1 / scheduled_share)) if scheduled_share else 0
    start = time.time()
    for i in range(n):
        at = None
        key = f"bench:{i}"
        if every and i % every == 0:
            when = start + ahead * (i / n)
            due[key] = when
            at = notifier.clock().fromtimestamp(when, tz=notifier.clock().tzinfo)
        await notifier.jc.enqueue(
            JobSpec(
                key=key,
                template="reply",
                number=flat[i % len(flat)],
                text="您好，答复如下。",
                at=at,
            )
        )
    return due


def worker_process(args: argparse.Namespace, prefix: str, data_dir: str, stop_at: float) -> None:
    asyncio.run(_worker(args, prefix, data_dir, stop_at))


async def _worker(args: argparse.Namespace, prefix: str, data_dir: str, stop_at: float) -> None:
    runtime = await Runtime.open(settings_for(args, prefix, data_dir), migrate=False)
    senders = {c: Sink(c, runtime.redis.client, prefix) for c in CHANNELS}
    notifier = Notifier(runtime, senders)
    notifier.worker.timers["schedule"] = 0.1  # the lateness of scheduled jobs depends on it
    task = asyncio.create_task(notifier.worker.start())
    for _ in range(int((stop_at - time.time()) / 0.2) + 1):  # poll the shared queue
        if not await notifier.queue.count("incomplete"):
            break
        await asyncio.sleep(0.2)
    await notifier.worker.stop()
    task.cancel()
    await notifier.close()
    await runtime.close()


def report(sent: dict[str, str], due: dict[str, float], elapsed: float, n: int) -> None:
    per_channel = Counter(v.split()[0] for v in sent.values())
    times = sorted(float(v.split()[1]) for v in sent.values())
    span = (times[-1] - times[0]) if len(times) > 1 else elapsed
    rate = len(sent) / max(span, 1e-9)
    print(f"delivered {len(sent)}/{n} in {span:.1f}s (wall {elapsed:.1f}s incl. start-up)")
    for channel, count in sorted(per_channel.items()):
        print(f"  {channel:7s} {count:6d} deliveries  {count / max(span, 1e-9):8.0f}/s")
    late = sorted(float(sent[k].split()[1]) - d for k, d in due.items() if k in sent)
    if late:
        p50, p99 = late[len(late) // 2], late[min(len(late) - 1, int(0.99 * len(late)))]
        print(
            f"scheduled jobs: {len(late)}, lateness p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms (target < 1000 ms)"
        )
    print(f"throughput {rate:.0f} deliveries/s = {rate / TARGET:.2f}x the {TARGET:.0f}/s target")


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    data_dir = tempfile.mkdtemp(prefix="notifier-bench-")
    runtime = await Runtime.open(settings_for(args, prefix, data_dir))
    notifier = Notifier(runtime, {})
    numbers = await seed(runtime)
    t0 = time.time()
    due = await enqueue(notifier, numbers, args.n, args.scheduled, args.ahead)
    print(
        f"enqueued {args.n} jobs in {time.time() - t0:.1f}s "
        f"({len(due)} scheduled up to {args.ahead:.0f}s ahead)"
    )
    start, stop_at = time.time(), time.time() + args.limit
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=worker_process, args=(args, prefix, data_dir, stop_at))
        for _ in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    elapsed = time.time() - start
    sent = await runtime.redis.client.hgetall(f"{prefix}bench:sent")
    report(sent, due, elapsed, args.n)
    await cleanup(runtime, prefix)
    await notifier.close()
    await runtime.close()


async def cleanup(runtime: Runtime, prefix: str) -> None:
    batch = [key async for key in runtime.redis.client.scan_iter(match=f"{prefix}*", count=5000)]
    for i in range(0, len(batch), 1000):
        await runtime.redis.client.delete(*batch[i : i + 1000])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--processes", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--scheduled", type=float, default=0.2, help="share of delayed jobs")
    parser.add_argument("--ahead", type=float, default=10.0, help="delay spread, seconds")
    parser.add_argument("--limit", type=float, default=240.0, help="give up after (seconds)")
    parser.add_argument(
        "--redis-url", default=os.environ.get("INTAKE_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--database-url", default=os.environ.get("INTAKE_DATABASE_URL"))
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
