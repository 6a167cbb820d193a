"""Staff console benchmark: each role's default inbox (a 50-row page with the menu's counts)
on 100,000 tickets in PostgreSQL, with 10 staff browsing at once (one server process).

Fills a fresh PostgreSQL database (COPY), starts the service with the console as a real
process (`uvicorn --factory bench.console_bench:console_app`), signs 10 staff in (agents,
handlers of several departments, supervisors, an admin) and has each load their default inbox
(agent 待受理, handler 待办, supervisor 督办, admin 全部工单: a page and every count of the
role's menu) again and again for `--seconds`. The tickets carry triage's event and flag, and
some extension answers, which the menus' counts read. Prints p50/p95/p99 per role and overall,
and the server's CPU time per page (apart from the machine's load); bounded by the duration and
the number of clients.

    python bench/console_bench.py [--tickets 100000] [--seconds 20] [--clients 10] [--think 1]

`--think` is each person's pause between pages (uniform around it); `--think 0` turns the
10 staff into 10 tight loops, a stress test of one server process rather than of browsing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.intake_bench import PG_ADMIN, REDIS_URL, database_url

PASSWORD = "bench console password"
DEPARTMENTS = ["environment", "market", "housing", "transport", "hrss", "health", "water"]
STATUSES = (  # a running hotline: most tickets closed, the rest spread over the loop
    ["closed"] * 70 + ["received"] * 6 + ["accepted"] * 3 + ["dispatched"] * 8
    + ["in_progress"] * 8 + ["replied"] * 3 + ["returned"] * 1 + ["reopened"] * 1
)
STAFF = [  # name, role, department
    ("agent1", "agent", None), ("agent2", "agent", None), ("agent3", "agent", None),
    ("env1", "handler", "environment"), ("env2", "handler", "environment"),
    ("market1", "handler", "market"), ("housing1", "handler", "housing"),
    ("boss1", "supervisor", None), ("boss2", "supervisor", None), ("root", "admin", None),
]


STAFF_CLI = "from service.cli import main; main()"  # `intake staff add`, as staff are made


def console_app() -> object:
    """The app factory's app (it mounts the console), for uvicorn --factory (settings from env)."""
    from intake.config import load_settings
    from service.app import create_app

    return create_app(load_settings())


async def fill(dsn: str, tickets: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "citizens", columns=["id", "name", "created_at"],
            records=[(i, f"市民{i}", now) for i in range(1, 5001)],
        )
        rnd = random.Random(12345)
        rows = []
        for i in range(1, tickets + 1):
            created = now - timedelta(minutes=(tickets - i) * 3)
            status = rnd.choice(STATUSES)
            dispatched = status in ("dispatched", "in_progress", "replied", "returned", "closed")
            department = rnd.choice(DEPARTMENTS) if dispatched and status != "returned" else None
            rows.append((
                i, f"{created:%Y%m%d}{i:05d}", f"Q{i:07d}", rnd.randint(1, 5000),
                rnd.choice(["web", "wechat", "sms", "email", "phone"]),
                rnd.choice(["complaint", "consultation", "help", "report"]),
                rnd.choice(["noise", "water-supply", "other", "roads", "housing"]),
                department, "[]", status, rnd.random() < 0.02,
                status != "closed" and rnd.random() < 0.05, rnd.choice([0] * 20 + [1, 2, 3]),
                f"诉求标题 {i}", "幸福路12号楼下烧烤店油烟扰民，晚上十点后还在营业。",
                f"+86138{i:08d}"[:14], rnd.random() < 0.1,
                created + timedelta(days=rnd.randint(1, 15)),
                created + timedelta(days=2) if status != "closed" and rnd.random() < 0.02 else None,
                rnd.random() < 0.125,  # triage asked for a person (待人工分类 while received)
                created, created,
            ))
        await conn.copy_records_to_table(
            "tickets",
            columns=[
                "id", "number", "query_code", "citizen_id", "channel", "request_type",
                "category", "department", "co_departments", "status", "urgent", "supervision",
                "repeat_count", "title", "content", "contact_phone", "anonymous", "due_at",
                "waiting_since", "needs_human", "created_at", "updated_at",
            ],
            records=rows,
        )
        await conn.execute("SELECT setval('tickets_id_seq', $1)", tickets)
        await conn.copy_records_to_table(  # what the boxes read besides the tickets themselves
            "ticket_events",
            columns=["id", "ticket_id", "kind", "actor_kind", "public", "data", "published",
                     "created_at"],
            records=_events(rows, rnd, now),
        )
        await conn.execute(
            "SELECT setval('ticket_events_id_seq', (SELECT max(id) FROM ticket_events))"
        )
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a steady database
    finally:
        await conn.close()


def _events(
    tickets: list[tuple[Any, ...]], rnd: random.Random, now: datetime
) -> list[tuple[Any, ...]]:
    """Triage's record of every ticket (with the ticket's needs-human flag) and the answers
    to extension requests of the last weeks (a handler's 延期答复)."""
    rows = []
    for ticket in tickets:
        ticket_id, created, unsure = ticket[0], ticket[-1], ticket[-3]
        data = {"category": ticket[6], "needs_human": unsure, "category_source":
                "unsure" if unsure else "keywords"}
        rows.append((len(rows) + 1, ticket_id, "triaged", "system", False,
                     json.dumps(data), True, created))
        if ticket[9] != "closed" and rnd.random() < 0.02:
            at = max(created, now - timedelta(days=rnd.randint(0, 20)))
            rows.append((len(rows) + 1, ticket_id, "extension_granted", "staff", True,
                         json.dumps({"days": 5}), True, at))
    return rows


async def add_staff(env: dict[str, str]) -> None:
    for name, role, department in STAFF:
        args = [sys.executable, "-c", STAFF_CLI, "staff", "add", name, "--role", role,
                "--password-stdin"]
        if department:
            args += ["--department", department]
        done = await asyncio.to_thread(
            subprocess.run, args, input=PASSWORD + "\n", env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"staff add {name}: {done.stderr.strip()}")


async def signed_in(base: str, name: str) -> httpx.AsyncClient:
    """A staff member's browser, signed in and warmed (outside the measured time: argon2
    costs most of a second of the server's CPU per sign-in)."""
    http = httpx.AsyncClient(base_url=base, timeout=30)
    page = await http.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, "no sign-in form"
    signed = await http.post("/console/login", data={
        "username": name, "password": PASSWORD, "csrf": token.group(1)})
    assert signed.status_code == 303, f"{name} could not sign in: {signed.status_code}"
    for _ in range(3):  # warm: the server's first pages compile templates and plans
        await http.get("/console/inbox")
    return http


async def browse(
    http: httpx.AsyncClient, until: float, timings: list[float], think: float
) -> None:
    try:
        # people do not click in step: each starts somewhere within one pause, else every
        # client's first page arrives in the same millisecond and the last waits for nine
        await asyncio.sleep(think * random.uniform(0, 1))
        while time.monotonic() < until:
            started = time.perf_counter()
            answer = await http.get("/console/inbox")
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.status_code
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
    finally:
        await http.aclose()


def cpu_seconds(pid: int) -> float | None:
    """The process's user + system CPU time (Linux `/proc`), to tell the page's own cost from
    the wait for a busy machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def console_server(
    prefix: str, tickets: int, prepare: Callable[[str], Awaitable[None]] | None = None
) -> AsyncIterator[tuple[str, int]]:
    """A database of its own with `tickets` tickets (then `prepare(dsn)`), and the console
    served on it by uvicorn: (its base URL, the server's pid); all removed afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        url = database_url(name)
        data_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        env = {**os.environ, "INTAKE_DATABASE_URL": url, "INTAKE_REDIS_URL": REDIS_URL,
               "INTAKE_REDIS_PREFIX": f"{name}:", "INTAKE_DATA_DIR": str(data_dir),
               "INTAKE_LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path.cwd())}
        await add_staff(env)  # migrates the database and seeds the departments
        dsn = url.replace("+asyncpg", "")
        started = time.perf_counter()
        await fill(dsn, tickets)
        print(f"{tickets} tickets filled in {time.perf_counter() - started:.1f} s")
        if prepare is not None:
            await prepare(dsn)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "bench.console_bench:console_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=1) as probe:
            for _ in range(300):
                try:
                    await probe.get(f"{base}/console/login")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield base, server.pid
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=10, choices=range(1, len(STAFF) + 1))
    # a person reads a page before the next click; 0 makes every client a tight loop
    parser.add_argument("--think", type=float, default=1.0, help="seconds between pages")
    options = parser.parse_args()
    async with console_server("console_bench", options.tickets) as (base, pid):
        per_role: dict[str, list[float]] = {}
        people = STAFF[: options.clients]
        browsers = [await signed_in(base, staff_name) for staff_name, _, _ in people]
        until = time.monotonic() + options.seconds
        cpu_before = cpu_seconds(pid)
        tasks = []
        for (_, role, _), http in zip(people, browsers, strict=True):
            tasks.append(browse(http, until, per_role.setdefault(role, []), options.think))
        await asyncio.gather(*tasks)
        cpu_after = cpu_seconds(pid)
        everything = [t for timings in per_role.values() for t in timings]
        for role, timings in [*per_role.items(), ("all", everything)]:
            q = statistics.quantiles(timings, n=100)
            print(f"{role:>10}: {len(timings):6d} pages  p50 {q[49] * 1000:6.1f} ms  "
                  f"p95 {q[94] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms")
        if cpu_before is not None and cpu_after is not None:
            spent = (cpu_after - cpu_before) * 1000 / max(len(everything), 1)
            print(f"server CPU per page {spent:.1f} ms; load average {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    asyncio.run(main())
