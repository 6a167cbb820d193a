"""The `intake` command as an operator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from intake.config import Settings
from intake.ingest.deadletter import list_dead
from intake.runtime import Runtime
from tests.conftest import REDIS_URL
from tests.core.helpers import drain


def _cli(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(
        {
            "INTAKE_DATA_DIR": str(settings.data_dir),
            "INTAKE_REDIS_URL": REDIS_URL,
            "INTAKE_REDIS_PREFIX": settings.redis_prefix,
            "INTAKE_LOG_LEVEL": "WARNING",
        }
    )
    if settings.database_url:
        env["INTAKE_DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_staff_add_prints_a_working_token(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    done = _cli(
        "staff", "add", "王五", "--role", "handler", "--department", "water", settings=settings
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("itk_") and "王五" in done.stderr
    listed = await client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    refused = _cli("staff", "add", "x", "--role", "handler", settings=settings)
    assert refused.returncode != 0 and "department" in refused.stderr


async def test_deadletter_list_and_replay(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    await runtime.redis.client.xadd(runtime.redis.keys.inbound, {"msg": "garbage"})
    await drain(runtime)
    listed = _cli("deadletter", "list", settings=settings)
    assert listed.returncode == 0 and "unreadable entry" in listed.stdout
    dead_id = listed.stdout.split("\t")[0]
    replayed = _cli("deadletter", "replay", dead_id, settings=settings)
    assert replayed.returncode == 0 and "replayed as" in replayed.stdout
    assert await runtime.redis.client.xlen(runtime.redis.keys.inbound) == 1
    await drain(runtime)  # still garbage: back in the dead letters, never lost
    assert len(await list_dead(runtime.redis.client, runtime.redis.keys)) == 1
    missing = _cli("deadletter", "replay", "1-1", settings=settings)
    assert missing.returncode != 0


async def test_db_upgrade(settings: Settings) -> None:
    done = _cli("db", "upgrade", settings=settings)
    assert done.returncode == 0 and "up to date" in done.stdout


async def test_worker_kinds_are_checked_before_anything_starts(settings: Settings) -> None:
    for only in ("pipeline,fax", "sms", ","):
        done = _cli("worker", "--only", only, settings=settings)
        assert done.returncode == 2 and "--only takes one or more of" in done.stderr, only
    done = _cli("run", "--pipeline-placement", "elsewhere", settings=settings)
    assert done.returncode == 2 and "--pipeline-placement must be one of" in done.stderr
