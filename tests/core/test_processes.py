"""Real processes: kill -9 the worker mid-stream; restart `intake run` on its data folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from intake.config import Settings
from intake.domain.models import Message, Ticket
from intake.runtime import Runtime
from service import child_workers
from tests.conftest import REDIS_URL
from tests.core.test_pipeline import sms

pytestmark = pytest.mark.slow


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(
        {
            "INTAKE_DATA_DIR": str(settings.data_dir),
            "INTAKE_REDIS_URL": REDIS_URL,
            "INTAKE_REDIS_PREFIX": settings.redis_prefix,
            "INTAKE_PIPELINE__CLAIM_IDLE_MS": "300",
            "INTAKE_PIPELINE__BATCH_SIZE": "25",
            "INTAKE_PIPELINE__BLOCK_MS": "50",
            "INTAKE_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    if settings.database_url:
        env["INTAKE_DATABASE_URL"] = settings.database_url
    return env


def _intake(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.db.read() as session:
        tickets = await session.scalar(select(func.count()).select_from(Ticket))
        messages = await session.scalar(select(func.count()).select_from(Message))
    return int(tickets or 0), int(messages or 0)


async def test_kill_9_the_worker_loses_and_duplicates_nothing(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    env, log = _env(settings), tmp_path / "worker.log"
    total, kills = 300, 0
    numbers: list[str] = []

    async def submit() -> None:
        for i in range(total):
            receipt = await runtime.gateway.submit(
                sms(f"k{i}", f"第{i}条诉求：路灯不亮"), open_ticket=True
            )
            numbers.append(receipt.number or "")
            if i % 20 == 0:
                await asyncio.sleep(0.02)

    feeder = asyncio.create_task(submit())
    worker = _intake("worker", "--only", "pipeline", env=env, log=log)
    rng = random.Random(12345)
    while not feeder.done() or kills < 4:
        await asyncio.sleep(rng.uniform(0.3, 0.9))
        worker.send_signal(signal.SIGKILL)  # no goodbye: mid-batch, mid-commit, anywhere
        worker.wait()
        kills += 1
        worker = _intake("worker", "--only", "pipeline", env=env, log=log)
    await feeder
    try:
        deadline = time.monotonic() + 90
        while await _counts(runtime) != (total, total):
            assert time.monotonic() < deadline, (
                f"stuck at {await _counts(runtime)}: {log.read_text()[-2000:]}"
            )
            await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    async with runtime.db.read() as session:
        stored = set(await session.scalars(select(Ticket.number)))
    assert stored == set(numbers) and len(numbers) == total and kills >= 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update({"INTAKE_DATA_DIR": str(tmp_path / "data"), "INTAKE_LOG_LEVEL": "WARNING"})
    yield env
    pidfile_dirs = list((tmp_path / "data" / "redis").glob("*.settings"))
    for registry in pidfile_dirs:  # an embedded server orphaned by a kill -9 is stopped here
        import json

        pid_path = Path(json.loads(registry.read_text())["pidfile"])
        if pid_path.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_path.read_text().strip()), signal.SIGTERM)


async def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)


async def _submit_many(base: str, count: int, *, phone: str, text: str) -> list[httpx.Response]:
    """`count` web-form requests at once; `{i}` in `phone` and `text` is each one's index."""
    async with httpx.AsyncClient() as http:
        bodies = await asyncio.gather(
            *(
                http.post(
                    f"{base}/api/v1/requests",
                    json={"phone": phone.format(i=i), "content": text.format(i=i)},
                )
                for i in range(count)
            )
        )
    assert all(b.status_code == 201 for b in bodies)
    return list(bodies)


async def _submit_and_wait(base: str, text: str, data_dir: Path) -> dict[str, str]:
    async with httpx.AsyncClient() as http:
        body = (
            await http.post(
                f"{base}/api/v1/requests", json={"phone": "13800000000", "content": text}
            )
        ).json()
    await _wait_for_ticket(base, body, data_dir)
    return dict(body)


async def test_restarting_intake_run_keeps_tickets_and_numbers(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    """Embedded Redis and SQLite: a clean restart and a kill -9 both keep everything."""
    log, port = tmp_path / "run.log", _free_port()
    base = f"http://127.0.0.1:{port}"
    run = ["run", "--port", str(port)]
    proc = _intake(*run, env=embedded_env, log=log)
    await _wait_healthy(base, proc, log)
    data = Path(embedded_env["INTAKE_DATA_DIR"])
    first = [await _submit_and_wait(base, f"第{i}件事：小区垃圾没人清运", data) for i in range(3)]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    proc = _intake(*run, env=embedded_env, log=log)
    await _wait_healthy(base, proc, log)
    second = await _submit_and_wait(base, "重启后提交的诉求内容", data)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc = _intake(*run, env=embedded_env, log=log)
    try:
        await _wait_healthy(base, proc, log)
        third = await _submit_and_wait(base, "强行终止后提交的诉求", data)
        async with httpx.AsyncClient() as http:
            for old in [*first, second]:
                got = await http.get(
                    f"{base}/api/v1/requests/{old['number']}", params={"code": old["query_code"]}
                )
                assert got.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    sequence = [int(t["number"][8:]) for t in [*first, second, third]]
    assert sequence == [1, 2, 3, 4, 5] or sequence == sorted(set(sequence))
    assert len(set(sequence)) == 5


def _pipeline_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"worker" in cmdline and any(b"pipeline" in a for a in cmdline):
            found.append(int(entry.name))
    return found


async def _children_of(parent: int, count: int) -> list[int]:
    deadline = time.monotonic() + 20
    while len(children := _pipeline_children(parent)) != count:
        assert time.monotonic() < deadline, f"pipeline child processes: {children}"
        await asyncio.sleep(0.1)
    return children


async def test_intake_run_with_two_pipeline_processes(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    """`intake run --pipeline-processes 2`: two child pipelines on the embedded Redis and
    SQLite, one restarted when it dies, both stopped with `intake run`; every request is one
    ticket."""
    log, port = tmp_path / "run.log", _free_port()
    base = f"http://127.0.0.1:{port}"
    # what the killed child held unacknowledged is taken over by the others after a second
    env = {**embedded_env, "INTAKE_PIPELINE__CLAIM_IDLE_MS": "1000"}
    data = Path(env["INTAKE_DATA_DIR"])
    proc = _intake("run", "--port", str(port), "--pipeline-processes", "2", env=env, log=log)
    try:
        await _wait_healthy(base, proc, log)
        child, other = await _children_of(proc.pid, 2)
        bodies = await _submit_many(base, 40, phone="138000000{i:02d}", text="第{i}件事：路灯不亮")
        os.kill(child, signal.SIGKILL)
        await asyncio.sleep(0.3)
        restarted = set(await _children_of(proc.pid, 2)) - {child, other}
        assert len(restarted) == 1 and other in _pipeline_children(proc.pid)
        last = await _submit_and_wait(base, "子进程重启后提交的诉求", data)
        numbers = [b.json()["number"] for b in bodies] + [last["number"]]
        opened = await _wait_for_tickets(data, numbers)
        assert sorted(opened) == sorted(numbers) and set(opened.values()) == {1}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    assert _pipeline_children(proc.pid) == []
    for pid in (*restarted, other):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            pytest.fail("a child pipeline process outlived `intake run`")


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody reaped (a container's init may not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("backend", ["postgres"])
async def test_intake_run_on_postgresql_runs_its_pipeline_in_one_child_that_dies_with_it(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    """With PostgreSQL on two cores the pipeline (and the notifier) get a process of their own
    beside HTTP; if `intake run` is killed outright, that child stops by itself instead of
    consuming on."""
    # on one core "auto" keeps the pipeline inside: asked for, the child is the same there
    one_core = child_workers._usable_cores() < 2
    env = _env(settings, **({"INTAKE_PIPELINE__PLACEMENT": "child"} if one_core else {}))
    log, port = tmp_path / "run.log", _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _intake("run", "--port", str(port), env=env, log=log)
    try:
        await _wait_healthy(base, proc, log)
        (child,) = await _children_of(proc.pid, 1)
        bodies = await _submit_many(base, 30, phone="139000000{i:02d}", text="第{i}件事：井盖缺失")
        numbers = {b.json()["number"] for b in bodies}
        deadline = time.monotonic() + 30
        while (await _counts(runtime))[0] < len(numbers):
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            await asyncio.sleep(0.1)
        async with runtime.db.read() as session:
            assert set(await session.scalars(select(Ticket.number))) == numbers
        # the notifier runs in the child as well, reading the events the tickets made
        readers = await runtime.redis.client.xinfo_consumers(runtime.redis.keys.events, "notifier")
        assert [r["name"].rsplit("-", 1)[1] for r in readers] == [str(child)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    try:
        while _alive(child):
            assert time.monotonic() < deadline, "the pipeline child outlived a killed `intake run`"
            await asyncio.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _opened_tickets(data_dir: Path) -> dict[str, int]:
    """Ticket numbers the worker has committed to the embedded SQLite file, with their count.

    Read straight from the file: the citizens' lookup endpoint allows 60 calls a minute per
    address, which a test polling for 41 tickets behind a slow-starting worker would exceed.
    """
    with contextlib.closing(sqlite3.connect(data_dir / "intake.sqlite3", timeout=5)) as db:
        rows = db.execute("SELECT number, count(*) FROM tickets GROUP BY number").fetchall()
    return {str(number): int(count) for number, count in rows}


async def _wait_for_tickets(data_dir: Path, numbers: list[str]) -> dict[str, int]:
    deadline = time.monotonic() + 30
    while True:
        opened = _opened_tickets(data_dir)
        missing = [n for n in numbers if n not in opened]
        if not missing:
            return opened
        assert time.monotonic() < deadline, f"never became tickets: {missing}"
        await asyncio.sleep(0.1)


async def _wait_for_ticket(base: str, body: dict[str, str], data_dir: Path) -> None:
    """Until the accepted request is a real ticket, then as the citizen sees it."""
    await _wait_for_tickets(data_dir, [body["number"]])
    async with httpx.AsyncClient() as http:
        found = await http.get(
            f"{base}/api/v1/requests/{body['number']}", params={"code": body["query_code"]}
        )
    assert found.status_code == 200, found.text
    assert found.json()["request_type"], found.json()
