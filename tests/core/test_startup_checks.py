"""A bad setting stops the command before anything starts, with one line that names it.

Each case runs the real command line as an operator would, and expects exit code 2, at most
two lines on stderr naming the variable and what is wrong with its value, and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.conftest import PG_DSN, REDIS_URL, unavailable

_PG = urlsplit(PG_DSN)
PG_BASE = f"postgresql+asyncpg://{_PG.username or 'postgres'}@{_PG.hostname}:{_PG.port or 5432}"
_REDIS = urlsplit(REDIS_URL)
REDIS_BASE = f"redis://{_REDIS.hostname}:{_REDIS.port or 6379}"


def _intake(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    clean.update({"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_REDIS_URL": REDIS_URL})
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], variable: str, *words: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and 1 <= len(lines) <= 2, done.stderr
    named = [line for line in lines if line.startswith(f"{variable}: ")]
    assert named, done.stderr
    for word in words:
        assert word in named[0], named[0]
    return named[0]


@pytest.fixture
async def servers() -> None:
    try:
        await (await asyncpg.connect(PG_DSN)).close()
    except (OSError, asyncpg.PostgresError):
        unavailable(f"PostgreSQL at {PG_DSN}")
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.ConnectionError):
        unavailable(f"Redis at {REDIS_URL}")
    finally:
        await client.aclose()


DATABASE_CASES = [
    ("postgresql+asyncpg://postgres@127.0.0.1:1/intake", "cannot connect to 127.0.0.1:1"),
    ("not a url", "not a database URL"),
    ("postgresql://postgres@127.0.0.1/intake", "no driver"),
    (f"{PG_BASE.replace('//' + (_PG.username or 'postgres'), '//nobody_here')}/postgres", "nobody"),
    (f"{PG_BASE}/no_such_database_here", "no_such_database_here"),
]


@pytest.mark.parametrize(("url", "problem"), DATABASE_CASES)
def test_database_url(servers: None, tmp_path: Path, url: str, problem: str) -> None:
    done = _intake("db", "upgrade", tmp_path=tmp_path, INTAKE_DATABASE_URL=url)
    _refused(done, "INTAKE_DATABASE_URL", problem)


REDIS_CASES = [
    ("redis://127.0.0.1:1/0", "cannot connect to 127.0.0.1:1 (connection refused)"),
    ("http://127.0.0.1:6379", "not a Redis URL"),
    (f"{REDIS_BASE}/99", "DB index is out of range"),
    (f"redis://nobody_here:wrong@{REDIS_BASE[8:]}/0", "credentials"),
]


@pytest.mark.parametrize(("url", "problem"), REDIS_CASES)
def test_redis_url(servers: None, tmp_path: Path, url: str, problem: str) -> None:
    done = _intake("worker", tmp_path=tmp_path, INTAKE_REDIS_URL=url)
    line = _refused(done, "INTAKE_REDIS_URL", problem)
    assert "wrong" not in line  # a password in the URL is never printed


SETTING_CASES = [
    # the notifier's own section: today it starts and the notifier dies in the child process
    ("run", "INTAKE_NOTIFY__QUIET_HOURS", "25:00-08:00", "'25:00-08:00' is not HH:MM-HH:MM"),
    ("worker", "INTAKE_NOTIFY__SURVEY_DELAY", "soon", "not a duration"),
    ("serve", "INTAKE_PIPELINE__BATCH_SIZE", "many", "valid integer"),
    ("run", "INTAKE_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("worker", "INTAKE_SMS__KANNEL_URL", "https://kannel:13013", "http://"),
    ("worker", "INTAKE_SMS__DLR_MASK", "640", "63"),
    ("run", "INTAKE_TELEGRAM__TOKEN", "not-a-token", "bot token"),
    ("worker", "INTAKE_WECHAT__DIALOG__TIMEOUT", "soon", "number"),
    ("db", "INTAKE_CATALOG__DEPARTMENTS_FILE", "/no/such/departments.yaml", "no such file"),
]


@pytest.mark.parametrize(("command", "variable", "value", "problem"), SETTING_CASES)
def test_setting(
    servers: None, tmp_path: Path, command: str, variable: str, value: str, problem: str
) -> None:
    args = {"db": ["db", "upgrade"], "worker": ["worker"]}.get(command, [command, "--port", "1"])
    done = _intake(*args, tmp_path=tmp_path, **{variable: value})
    _refused(done, variable, problem)
    assert not (tmp_path / "data" / "redis").exists()  # nothing was started


def test_a_secret_is_never_printed(servers: None, tmp_path: Path) -> None:
    secret = "wx-app-secret-do-not-print"
    done = _intake(
        "worker", tmp_path=tmp_path, INTAKE_WECHAT__APP_ID="wx1", INTAKE_WECHAT__APP_SECRET=secret
    )
    _refused(done, "INTAKE_WECHAT__TOKEN", "required")
    assert secret not in done.stderr


def test_several_bad_settings_one_line_each(servers: None, tmp_path: Path) -> None:
    done = _intake(
        "worker",
        tmp_path=tmp_path,
        INTAKE_PIPELINE__BATCH_SIZE="x",
        INTAKE_PIPELINE__MAX_ATTEMPTS="y",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = sorted(done.stderr.strip().splitlines())
    assert [line.split(":")[0] for line in lines] == [
        "INTAKE_PIPELINE__BATCH_SIZE",
        "INTAKE_PIPELINE__MAX_ATTEMPTS",
    ]
