"""Intake spine benchmark: the service as a user starts it, under bounded concurrent load.

Runs these servers one after the other, each a real process on 127.0.0.1:
  1. the bare FastAPI endpoint (same body validation, answers 201): the HTTP stack's ceiling;
  2. `intake run` with embedded defaults (SQLite + embedded Redis)            (mode embedded);
  3. `intake run` with the PostgreSQL and Redis servers of this machine (its pipeline in a
     child process of its own; `--run-processes`, `--placement`)            (mode run);
  4. as compose.yml runs it: `intake serve`, `intake worker` and more pipeline workers
     (`--workers` pipeline processes in all), on the same servers             (mode split).
For each: accepted requests/s, p50/p99 latency, and the time until every accepted request is a
ticket in the database; then our throughput as a ratio of the bare endpoint.

    python bench/intake_bench.py [--seconds 15] [--clients 32] [--modes embedded,run,split]
                                 [--workers 2] [--pipeline-only] [--run-processes 1]
                                 [--placement auto|inside|child]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import cpu
from bench.loadgen import LoadResult, request_bytes, run_load

# PostgreSQL over TCP by default; on one host its unix socket is cheaper per round trip:
# BENCH_PG_DSN='postgresql://postgres@/postgres?host=/var/run/postgresql'
PG_ADMIN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def database_url(db: str) -> str:
    """The service's URL for the bench database `db`, on the server `PG_ADMIN` names."""
    return urlsplit(PG_ADMIN)._replace(scheme="postgresql+asyncpg", path=f"/{db}").geturl()


def pg_transport() -> str:
    return "unix socket" if "host=/" in PG_ADMIN else "TCP"


TEXTS = [
    "幸福路12号楼下烧烤店油烟扰民，晚上十点后还在营业",
    "请问社保卡丢了怎么补办，需要带什么材料",
    "小区停水两天了，物业说不清楚什么时候恢复",
    "建议在学校门口增设红绿灯，早高峰很危险",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body() -> dict[str, object]:
    return {
        "phone": f"138{random.randint(0, 99_999_999):08d}",  # each citizen under its limit
        "content": random.choice(TEXTS),
        "request_type": "complaint",
        "address": "幸福路12号",
    }


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise TimeoutError(url)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def bench_bare(args: argparse.Namespace) -> LoadResult:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}/docs", proc)
        return await run_load(
            port=port,
            clients=args.clients,
            seconds=args.seconds,
            make=lambda: request_bytes(port, "/api/v1/requests", body()),
        )
    finally:
        stop(proc)


async def count_tickets(env: dict[str, str]) -> int:
    url = env.get("INTAKE_DATABASE_URL")
    if url:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM tickets"))
        finally:
            await conn.close()
    import sqlite3

    path = Path(env["INTAKE_DATA_DIR"]) / "intake.sqlite3"
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])


async def bench_intake(
    name: str, env: dict[str, str], args: argparse.Namespace, *, split: bool = False
) -> LoadResult:
    """`intake run` (one process), or with `split` `intake serve` + `intake worker`."""
    port = free_port()
    cli = [sys.executable, "-m", "service.cli"]
    procs = []
    names = []
    if split:
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        # as compose.yml runs it: `intake worker` (pipeline, notifier …) and more pipelines;
        # with --pipeline-only the notifier is left out (only what writes tickets runs)
        pipelines = args.workers
        if not args.pipeline_only:
            procs.append(subprocess.Popen([*cli, "worker"], env=env))
            names.append("worker")
            pipelines -= 1
        for n in range(pipelines):
            procs.append(subprocess.Popen([*cli, "worker", "--only", "pipeline"], env=env))
            names.append(f"pipeline {n + 1}")
        procs.append(subprocess.Popen([*cli, "serve", "--port", str(port)], env=env))
        names.append("serve")
    else:
        # SQLite has one writer: one pipeline
        processes = "1" if "INTAKE_DATABASE_URL" not in env else str(args.run_processes)
        run = [*cli, "run", "--port", str(port), "--pipeline-processes", processes]
        run += ["--pipeline-placement", args.placement]
        procs.append(subprocess.Popen(run, env=env))
        names.append("run")
    proc = procs[-1]
    roots = {**dict(zip(names, (p.pid for p in procs), strict=True)), "load": os.getpid()}
    try:
        await wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
        await cpu.wait_quiet({k: v for k, v in roots.items() if k != "load"})
        cpu_before = cpu.snapshot(roots)
        started = time.perf_counter()
        result = await run_load(
            port=port,
            clients=args.clients,
            seconds=args.seconds,
            keep_bodies=True,
            make=lambda: request_bytes(port, "/api/v1/requests", body()),
        )
        load_end = time.perf_counter()
        numbers = {orjson.loads(b)["number"] for b in result.bodies}
        while (tickets := await count_tickets(env)) < len(numbers):
            if time.perf_counter() - load_end > 120:
                break
            await asyncio.sleep(0.2)  # each count scans the table: not too often
        done = time.perf_counter()
        cpu_after = cpu.snapshot(roots)
        print(result.summary(name))
        print(
            f"{name}: {tickets} tickets in the database for {len(numbers)} accepted; "
            f"all written {done - load_end:.2f} s after the load stopped; end to end "
            f"{tickets / (done - started):,.0f} tickets/s"
        )
        print(f"{name}: " + cpu.report(cpu_before, cpu_after, tickets, "ticket"))
        return result
    finally:
        for each in procs:
            stop(each)


async def _fresh_db(admin: asyncpg.Connection, url: str, db: str) -> str:
    await admin.execute(f'CREATE DATABASE "{db}_split"')
    return url.rsplit("/", 1)[0] + f"/{db}_split"


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    level = os.environ.get("BENCH_LOG_LEVEL", "WARNING")  # INFO shows the pipeline's batches
    env.update({"INTAKE_DATA_DIR": str(data_dir), "INTAKE_LOG_LEVEL": level})
    # One loopback address sends thousands of requests a second, which the per-address limit
    # would refuse: with BENCH_LIMITS=on every other limit is counted as in production (its
    # cost measured), otherwise all are off. bench/flood_bench.py measures the limits at work.
    if os.environ.get("BENCH_LIMITS") == "on":
        env["INTAKE_LIMITS__SUBMISSIONS_PER_IP"] = ""
    else:
        env["INTAKE_LIMITS__ENABLED"] = "false"
    return env


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--modes",
        default="embedded,run,split",
        help="comma-separated: embedded (intake run, SQLite), run (intake run, servers), "
        "split (intake serve + intake worker, servers)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="split mode: pipeline processes beside `intake serve` (compose.yml runs two)",
    )
    parser.add_argument(
        "--run-processes",
        type=int,
        default=1,
        help="run mode: `intake run --pipeline-processes` with PostgreSQL (SQLite has one "
        "writer: always one)",
    )
    parser.add_argument(
        "--placement",
        choices=["auto", "inside", "child"],
        default="auto",
        help="`intake run --pipeline-placement` (auto: a child process on 2+ cores)",
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="split mode: every worker process is `intake worker --only pipeline` (no notifier)",
    )
    args = parser.parse_args()
    print(
        f"load: {args.clients} concurrent keep-alive clients for {args.seconds:.0f} s each; "
        f"{os.cpu_count()} CPUs; PostgreSQL over {pg_transport()} (BENCH_PG_DSN)"
    )
    bare = await bench_bare(args)
    print(bare.summary("bare FastAPI endpoint (baseline)"))
    bare_rate = bare.ok / bare.seconds
    tmp = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    results = {}
    try:
        modes = set(args.modes.split(","))
        if "embedded" in modes and not args.skip_sqlite:
            results["embedded (SQLite + embedded Redis)"] = await bench_intake(
                "embedded", base_env(tmp / "embedded"), args
            )
        db = f"intake_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{db}"')
        prefix = f"bench:{uuid.uuid4().hex[:8]}:"
        env = base_env(tmp / "server")
        env.update(
            {
                "INTAKE_DATABASE_URL": database_url(db),
                "INTAKE_REDIS_URL": REDIS_URL,
                "INTAKE_REDIS_PREFIX": prefix,
            }
        )
        try:
            if "run" in modes:
                name = (
                    f"servers, intake run --pipeline-processes {args.run_processes} "
                    f"--pipeline-placement {args.placement}"
                )
                results[name] = await bench_intake("servers", env, args)
            env2 = {**env, "INTAKE_REDIS_PREFIX": prefix + "split:"}
            env2["INTAKE_DATABASE_URL"] = await _fresh_db(admin, env["INTAKE_DATABASE_URL"], db)
            if "split" in modes:
                name = f"servers, intake serve + {args.workers} pipeline worker processes"
                name += " (no notifier)" if args.pipeline_only else " (one runs the notifier)"
                results[name] = await bench_intake("split", env2, args, split=True)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}_split" WITH (FORCE)')
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await admin.close()
            client = aioredis.from_url(REDIS_URL)
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
            await client.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, result in results.items():
        rate = result.ok / result.seconds
        print(
            f"{name}: {rate:,.0f} req/s = {rate / bare_rate:.2f}x the bare endpoint "
            f"({bare_rate:,.0f} req/s); target 1,000 tickets/s and p99 < 50 ms: "
            f"p99 {result.pct(0.99):.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
