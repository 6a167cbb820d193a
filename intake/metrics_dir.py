"""The folder where every process of one installation writes its metrics, and who writes what.

prometheus_client's multiprocess mode is switched on by `PROMETHEUS_MULTIPROC_DIR`, read when
`intake.metrics` is imported: the long-running commands set it (to `DATA_DIR/metrics`) before
they import anything else, and their child processes inherit it. This module imports nothing of
prometheus_client, so that the command line can call it first.

A process's files are named for its host and pid (`counter_<host>-<pid>.db`), not its pid
alone: containers that share the folder as a volume all run as pid 1 or so. At start-up the
files of processes of this host that have died are removed (their counters start again, as a
restart does); files of other hosts are left alone, since those may be running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
FOLDER = "metrics"

_host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"
_identity: tuple[int, str] = (0, "")


def process_identifier() -> str:
    """This process's name in the metrics folder; called on every increment, so cached."""
    global _identity
    pid = os.getpid()
    if _identity[0] != pid:
        _identity = (pid, identifier_of(pid))
    return _identity[1]


def identifier_of(pid: int) -> str:
    """The name a process of this host with `pid` writes under."""
    return f"{_host}-{pid}"


def use_metrics_folder(data_dir: Path, *, sweep: bool) -> Path:
    """Point this process (and the processes it starts) at `data_dir/metrics`.

    `sweep` (the parent of `intake run` and `intake serve` only) removes what dead processes
    of this host left there.
    """
    folder = (data_dir / FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if sweep:
        removed = sweep_dead(folder)
        if removed:
            log.debug("removed %d metrics files of dead processes", removed)
    os.environ[ENV] = str(folder)
    imported = sys.modules.get("intake.metrics")
    if imported is not None and str(folder) != imported.FOLDER:
        log.warning(
            "intake.metrics was imported before its folder was set: this process's "
            "metrics stay its own"
        )
    return folder


def sweep_dead(folder: Path) -> int:
    removed = 0
    for path in folder.glob("*.db"):
        host, _, pid = path.stem.rsplit("_", 1)[-1].rpartition("-")
        if host == _host and pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
