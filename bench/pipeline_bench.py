"""Pipeline worker alone: how many queued web requests become tickets per second.

No HTTP: N requests are queued through the gateway (as the web form does), then one worker
drains the stream. This isolates the worker, which bounds end-to-end intake throughput.

    python bench/pipeline_bench.py [--count 5000] [--servers] [--channel web|sms]
                                   [--batch-size N] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.intake_bench import PG_ADMIN, REDIS_URL, database_url
from channels.web.form import WebRequest, to_message
from intake.config import Settings
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.runtime import Runtime
from service.process import run_async, settle_heap
from service.wiring import open_runtime

TARGET = 1000.0  # tickets/s end to end
TEXTS = [
    "幸福路12号楼下烧烤店油烟扰民，晚上十点后还在营业",
    "请问社保卡丢了怎么补办，需要带什么材料",
    "小区停水两天了，物业说不清楚什么时候恢复",
    "建议在学校门口增设红绿灯，早高峰很危险",
]


async def queue(runtime: Runtime, count: int, channel: str) -> None:
    if channel == "sms":
        return await queue_texts(runtime, count)
    for i in range(count):
        request = WebRequest(
            phone=f"1380000{random.randint(0, 9999):04d}",
            content=random.choice(TEXTS) + f" #{i}",
            request_type="complaint",
            address="幸福路12号",
        )
        message = to_message(
            request,
            idempotency_key=uuid.uuid4().hex,
            attachments=(),
            received_at=runtime.clock(),
            client_ip="127.0.0.1",
        )
        await runtime.gateway.submit(message, open_ticket=True)


async def queue_texts(runtime: Runtime, count: int) -> None:
    """Text messages as SMS: not numbered at the edge, so the core decides what each one is
    (new request, follow-up, status query, rating …), as for WeChat and e-mail too."""
    for i in range(count):
        message = InboundMessage(
            channel="sms",
            external_id=f"bench-{uuid.uuid4().hex}",
            sender=SenderIdentity(kind=IdentityKind.PHONE, value=f"+86138{i:08d}"),
            kind=MessageKind.TEXT,
            received_at=runtime.clock(),
            text=random.choice(TEXTS) + f" #{i}",
        )
        await runtime.gateway.submit(message)


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    env: dict[str, object] = {"data_dir": data_dir}
    db_name = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
    if args.servers:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{db_name}"')
        env["database_url"] = database_url(db_name)
        env["redis_url"] = REDIS_URL
        env["redis_prefix"] = f"bench:{db_name}:"
    if args.batch_size:  # small batches, as a worker sees them under a trickle of webhooks
        env["pipeline"] = {"batch_size": args.batch_size}
    settings = Settings(**env)  # type: ignore[arg-type]
    runtime = await open_runtime(settings)
    try:
        await queue(runtime, args.count, args.channel)
        worker = runtime.pipeline_worker(consumer="bench")
        settle_heap()  # as `intake worker` does after start-up
        profiler = cProfile.Profile() if args.profile else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        await worker.drain(limit_s=600)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        rate = args.count / elapsed
        kind = "PostgreSQL + Redis server" if args.servers else "SQLite + embedded Redis"
        kind += f", {args.channel}" + (f", batches of {args.batch_size}" if args.batch_size else "")
        print(
            f"{kind}: {args.count} tickets in {elapsed:.2f} s = {rate:,.0f} tickets/s "
            f"({rate / TARGET:.2f}× the {TARGET:,.0f}/s target), "
            f"{elapsed / args.count * 1000:.2f} ms per ticket, "
            f"worker CPU {cpu / args.count * 1000:.2f} ms per ticket"
        )
    finally:
        if args.servers:
            keys = [k async for k in runtime.redis.client.scan_iter(f"{settings.redis_prefix}*")]
            if keys:
                await runtime.redis.client.delete(*keys)
        await runtime.close()
        if args.servers:
            await admin.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--servers", action="store_true", help="PostgreSQL + Redis server")
    parser.add_argument(
        "--channel",
        choices=["web", "sms"],
        default="web",
        help="web: numbered form requests; sms: texts the core must decide about",
    )
    parser.add_argument(
        "--batch-size", type=int, help="entries per batch (the worker's default: 250)"
    )
    parser.add_argument("--profile", help="write cProfile stats of the drain to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        run_async(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
