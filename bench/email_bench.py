"""E-mail benchmark: 5,000 varied mails from a real Dovecot mailbox to tickets.

A private Dovecot on a loopback port gets N mails (the ticket-making fixtures of
tests/fixtures/email — UTF-8, GB2312, GBK, GB18030, Big5, HTML-only, attachments, quoted
replies — each with a unique Message-ID and sender) written into its Maildir before the clock
starts. Then the real mailbox reader (IMAP, parse, attachments, gateway, MOVE, cursor) and
the pipeline worker processes (`intake worker --only pipeline`) run until every mail is a
ticket. Prints the reader's ingest rate (mails durable on the intake stream per second), the
end-to-end rate (tickets per second), and both against the 500 mails/s target and the
20 mails/s helpdesk baseline.

Run: `python bench/email_bench.py [--n 5000] [--pipelines 1] [--phased] [--database-url URL]`
(`--phased`: the pipeline starts only once the reader is done, so that on a small machine the
ingest rate is the reader's own and not shared with the pipeline's CPU). Redis from
$INTAKE_REDIS_URL or 127.0.0.1:6379 under a throw-away prefix; SQLite in a temporary folder
by default. Bounded: gives up after --limit seconds and reports progress.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml
from sqlalchemy import func, select

from channels.email.reader import MailboxReader
from channels.email.settings import EmailSettings
from intake.config import load_settings
from intake.domain.models import Ticket
from intake.runtime import Runtime
from service.wiring import open_runtime
from tests.conftest import delete_prefix
from tests.email.dovecot_peer import (
    FIXTURES,
    Dovecot,
    dovecot_binary,
    fixture,
    remove,
    set_headers,
    start_dovecot,
)

TARGET = 500.0
BASELINE = 20.0


def ticket_fixtures() -> list[str]:
    """Fixtures that parse as a normal request (the ones that become tickets)."""
    expected: dict[str, dict[str, Any]] = yaml.safe_load(
        (FIXTURES / "expected.yaml").read_text(encoding="utf-8")
    )
    return sorted(
        name
        for name, facts in expected.items()
        if facts.get("classification") == "normal"
        and facts.get("kind") in ("text", "image", "file")
        and facts.get("sender")
    )


def make_mails(n: int) -> list[bytes]:
    names = ticket_fixtures()
    raws = [fixture(name) for name in names]
    run = uuid.uuid4().hex[:8]
    return [
        set_headers(
            raws[i % len(raws)],
            Message_ID=f"<bench-{run}-{i}@mail.example.test>",
            From=f"<citizen{i}@example.test>",
        )
        for i in range(n)
    ]


async def count_tickets(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def wait_for_pipelines(
    runtime: Runtime, processes: list[subprocess.Popen[bytes]], log: Path, limit: float = 60.0
) -> None:
    """Until every pipeline process has opened its runtime (start-up is not measured)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count("pipeline worker ") >= len(processes):
            return
        if any(p.poll() is not None for p in processes):
            break
        await asyncio.sleep(0.2)
    raise SystemExit(f"pipeline workers did not start:\n{text[-3000:]}")


def start_pipelines(count: int, env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
    code = "from service.cli import main; main()"
    with log.open("ab") as out:
        return [
            subprocess.Popen(
                [sys.executable, "-c", code, "worker", "--only", "pipeline"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            for _ in range(count)
        ]


async def measure(args: argparse.Namespace, peer: Dovecot, folder: Path) -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    redis_url = os.environ.get("INTAKE_REDIS_URL", "redis://127.0.0.1:6379/0")
    overrides: dict[str, Any] = {
        "data_dir": folder / "data",
        "redis_url": redis_url,
        "redis_prefix": prefix,
    }
    if args.database_url:
        overrides["database_url"] = args.database_url
    settings = load_settings(**overrides)
    runtime = await open_runtime(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(
        INTAKE_DATA_DIR=str(settings.data_dir),
        INTAKE_REDIS_URL=redis_url,
        INTAKE_REDIS_PREFIX=prefix,
        PYTHONPATH=str(ROOT),
    )
    if args.database_url:
        env["INTAKE_DATABASE_URL"] = args.database_url
    email = EmailSettings(**peer.settings(fetch_batch=args.batch, poll_interval=0.2))
    reader = MailboxReader(
        email,
        gateway=runtime.gateway,
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        clock=runtime.clock,
        attachments=runtime.attachments,
    )
    log = folder / "pipelines.log"
    pipelines = [] if args.phased else start_pipelines(args.pipelines, env, log)
    try:
        await wait_for_pipelines(runtime, pipelines, log)
        started = time.monotonic()
        reading = asyncio.create_task(reader.run())
        ingested_at, tickets = None, 0
        while time.monotonic() - started < args.limit:
            await asyncio.sleep(0.1)
            if ingested_at is None and reader.stats.marked >= args.n:
                ingested_at = time.monotonic() - started
                if args.phased:  # now the pipeline (its start-up counts in the total)
                    pipelines = start_pipelines(args.pipelines, env, log)
            tickets = await count_tickets(runtime)
            if tickets >= args.n and ingested_at is not None:
                break
        total = time.monotonic() - started
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
    finally:
        for process in pipelines:
            process.terminate()
        for process in pipelines:
            await asyncio.to_thread(process.wait, 30)
        await runtime.close()
        await delete_prefix(redis_url, prefix)
    report(args, reader, ingested_at, tickets, total)


def report(
    args: argparse.Namespace,
    reader: MailboxReader,
    ingested_at: float | None,
    tickets: int,
    total: float,
) -> None:
    stats = reader.stats
    print(f"mails: {args.n}  fixtures: {len(ticket_fixtures())}  fetch batch: {args.batch}")
    print(
        f"reader: fetched={stats.fetched} submitted={stats.submitted} "
        f"duplicates={stats.duplicates} dead={stats.dead_lettered} marked={stats.marked}"
    )
    if ingested_at:
        rate = args.n / ingested_at
        print(
            f"ingest (IMAP -> intake stream, moved): {ingested_at:.2f} s = {rate:.0f} mails/s "
            f"= {rate / TARGET:.2f}x the {TARGET:.0f}/s target, {rate / BASELINE:.0f}x the "
            f"{BASELINE:.0f}/s helpdesk baseline"
        )
    else:
        print(f"ingest: incomplete after {total:.1f} s ({stats.marked} marked)")
    rate = tickets / total if total else 0.0
    done = "all" if tickets >= args.n else "INCOMPLETE"
    print(
        f"end to end (mail -> ticket, {args.pipelines} pipeline worker(s)): {tickets} tickets "
        f"({done}) in {total:.2f} s = {rate:.0f} mails/s = {rate / TARGET:.2f}x target, "
        f"{rate / BASELINE:.0f}x baseline"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500, help="UIDs per FETCH")
    parser.add_argument("--pipelines", type=int, default=1, help="pipeline worker processes")
    parser.add_argument(
        "--phased",
        action="store_true",
        help="read the whole mailbox first, then start the pipeline (the reader gets the CPU)",
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--limit", type=float, default=300.0, help="give up after seconds")
    args = parser.parse_args()
    if dovecot_binary() is None:
        sys.exit("dovecot is not installed (apt-get install dovecot-imapd)")
    peer = start_dovecot()
    try:
        with tempfile.TemporaryDirectory(prefix="email-bench-") as tmp:
            fill_started = time.monotonic()
            peer.deliver_maildir(make_mails(args.n))
            print(f"filled Maildir with {args.n} mails in {time.monotonic() - fill_started:.1f} s")
            asyncio.run(measure(args, peer, Path(tmp)))
    finally:
        remove(peer)


if __name__ == "__main__":
    main()
