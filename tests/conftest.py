"""Shared fixtures: real Redis (with a key prefix per test), SQLite files and a real PostgreSQL.

In CI (`CI=true`) a missing server fails the tests that need it instead of skipping them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import faulthandler
import os
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from intake.config import Settings, load_settings
from intake.runtime import Runtime
from intake.storage.database import open_database
from intake.storage.migrate import upgrade
from service.app import create_app
from service.wiring import open_runtime

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"

EXIT_GRACE_S = float(os.environ.get("TEST_EXIT_GRACE_S", "120"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the last test nothing may keep the run alive: a thread or peer left behind that
    the interpreter waits for at exit would hold CI until its time limit, with no output."""

    def watchdog() -> None:
        time.sleep(EXIT_GRACE_S)
        print(f"\npytest did not exit {EXIT_GRACE_S:.0f} s after the last test:", file=sys.stderr)
        faulthandler.dump_traceback(all_threads=True)
        sys.stderr.flush()
        os._exit(int(exitstatus) or 1)

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def unavailable(what: str) -> None:
    """Fail in CI, skip on a developer machine without the server."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but not reachable")
    pytest.skip(f"{what} not reachable")


async def delete_prefix(url: str, prefix: str) -> None:
    client = aioredis.from_url(url)
    try:
        batch = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await client.delete(*batch)
                batch = []
        if batch:
            await client.delete(*batch)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    try:
        client = aioredis.from_url(REDIS_URL)
        await client.ping()
        await client.aclose()
    except (OSError, aioredis.ConnectionError):
        unavailable(f"Redis at {REDIS_URL}")
    yield prefix
    await delete_prefix(REDIS_URL, prefix)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One PostgreSQL database for the session, migrated once, dropped at the end."""
    name = f"intake_test_{uuid.uuid4().hex[:10]}"

    async def _admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        run_sync(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError):
        unavailable(f"PostgreSQL at {PG_DSN}")
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"

    async def _migrate() -> None:
        db = open_database(Settings(database_url=url))
        try:
            await upgrade(db.engine)
        finally:
            await db.dispose()

    run_sync(_migrate())
    yield url
    run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


TABLES = (
    "deliveries, prompts, ticket_events, attachments, messages, tickets, citizen_identities, "
    "citizens, staff, departments, department_alerts, api_keys, open311_requests, "
    "department_webhooks, webhook_dead_letters, audit_log, report_days, report_ticket_facts, "
    "report_daily, report_daily_topics, report_changes"
)


async def truncate(url: str) -> None:
    db = open_database(Settings(database_url=url))
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def settings(
    backend: str, tmp_path: Path, redis_prefix: str, request: pytest.FixtureRequest
) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "redis_url": REDIS_URL,
        "redis_prefix": redis_prefix,
        "pipeline": {"claim_idle_ms": 200, "block_ms": 50, "max_attempts": 3},
    }
    if backend == "postgres":
        url = request.getfixturevalue("pg_database")
        await truncate(url)
        overrides["database_url"] = url
    return load_settings(**overrides)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = await open_runtime(settings)
    yield rt
    await rt.close()


@pytest.fixture
async def client(runtime: Runtime, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
