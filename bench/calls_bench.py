"""来电录入 benchmark: the two fragments an agent's form fetches while a call is typed in, on
100,000 tickets in PostgreSQL with 10 agents at once (one server process): the caller's
tickets (来电弹屏, `POST /console/calls/caller`) and triage's suggestions
(`POST /console/calls/suggest`).

Fills a fresh database as `bench/console_bench.py` does, gives each of its 5,000 citizens a
phone identity, starts the service as a real process and has each agent ask for a caller's
tickets and then for suggestions, again and again for `--seconds` (half the numbers are
citizens' identities, half tickets' contact phones). Prints p50/p95/p99 per fragment.

    python bench/calls_bench.py [--tickets 100000] [--seconds 20] [--clients 10] [--think 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.console_bench import PASSWORD, console_server
from bench.intake_bench import TEXTS

AGENTS = ["agent1", "agent2", "agent3", "boss1", "boss2", "root"]  # the hotline's accounts
CITIZENS = 5000


def _phone(i: int) -> str:
    return f"+86139{i:08d}"


async def add_identities(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "citizen_identities",
            columns=["id", "citizen_id", "kind", "account", "value", "created_at"],
            records=[(i, i, "phone", "", _phone(i), now) for i in range(1, CITIZENS + 1)],
        )
        await conn.execute("ANALYZE citizen_identities")
    finally:
        await conn.close()


# the statement `intake.calls.caller.caller_tickets` runs
PLAN = (
    "EXPLAIN ANALYZE SELECT * FROM tickets WHERE (contact_phone = $1 OR citizen_id = "
    "(SELECT citizen_id FROM citizen_identities WHERE kind = 'phone' AND account = '' "
    "AND value = $2)) "
    "AND (status <> 'closed' OR updated_at >= now() - interval '30 days') "
    "ORDER BY id DESC LIMIT 10"
)


async def explain(dsn: str) -> None:
    """The plan of the caller's-tickets statement: the two indexes combined, no scan."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(PLAN, "+8613800004321", _phone(77))
        lines = [r[0] for r in rows]
        used = [ln.strip() for ln in lines if "Index Scan" in ln or "Seq Scan" in ln]
        print("caller plan:", "; ".join(used), "|", lines[-1].strip())
    finally:
        await conn.close()


async def agent(
    base: str, name: str, tickets: int, until: float, timings: dict[str, list[float]],
    think: float,
) -> None:
    rnd = random.Random(name)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        page = await http.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, "no sign-in form"
        signed = await http.post("/console/login", data={
            "username": name, "password": PASSWORD, "csrf": token.group(1)})
        assert signed.status_code == 303, f"{name} could not sign in: {signed.status_code}"
        form = await http.get("/console/calls/new")
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert found, "no call form"
        csrf = found.group(1)
        while time.monotonic() < until:
            if rnd.random() < 0.5:
                phone = _phone(rnd.randint(1, CITIZENS))
            else:  # a contact phone of the filled tickets
                phone = f"+86138{rnd.randint(1, tickets):08d}"[:14]
            for fragment, data in (
                ("caller", {"phone": phone, "csrf": csrf}),
                ("suggest", {"content": rnd.choice(TEXTS), "request_type": "consultation",
                             "csrf": csrf}),
            ):
                started = time.perf_counter()
                answer = await http.post(f"/console/calls/{fragment}", data=data)
                timings[fragment].append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.status_code
                await asyncio.sleep(think * random.uniform(0.5, 1.5))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=10, choices=range(1, 51))
    parser.add_argument("--think", type=float, default=0.3, help="seconds between fetches")
    options = parser.parse_args()

    async def prepare(dsn: str) -> None:
        await add_identities(dsn)
        await explain(dsn)

    async with console_server("calls_bench", options.tickets, prepare) as (base, _):
        timings: dict[str, list[float]] = {"caller": [], "suggest": []}
        until = time.monotonic() + options.seconds
        await asyncio.gather(*(
            agent(base, AGENTS[i % len(AGENTS)], options.tickets, until, timings, options.think)
            for i in range(options.clients)
        ))
        for fragment, values in timings.items():
            q = statistics.quantiles(values, n=100)
            print(f"{fragment:>8}: {len(values):6d} fetches  p50 {q[49] * 1000:6.1f} ms  "
                  f"p95 {q[94] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
