"""A pipeline child of `intake run` restarted while Redis is away waits for it, with one
warning, and then works; it neither exits in a loop of tracebacks nor needs a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from intake.redis.keys import Keys
from tests.fault_servers import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_child_started_during_a_redis_outage_waits_for_it(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", port=free_port())  # not started yet: "down"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(
        {
            "INTAKE_DATA_DIR": str(tmp_path / "data"),
            "INTAKE_REDIS_URL": server.url,
            "INTAKE_REDIS_PREFIX": "child-wait:",
            "INTAKE_PARENT_PID": str(os.getpid()),  # as `intake run` starts its child
            "INTAKE_LOG_LEVEL": "INFO",
        }
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--only", "pipeline"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(3)
        assert proc.poll() is None, log.read_text()
        server.start()
        key = Keys("child-wait:").heartbeats("pipeline")
        client = redis.Redis.from_url(server.url)
        deadline = time.monotonic() + 30
        while not client.zcard(key):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        text = log.read_text()
        assert "Traceback" not in text
        warnings = [line for line in text.splitlines() if " WARNING " in line]
        assert len(warnings) <= 3, warnings
        print(warnings)  # the outage said once, not once per attempt
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.stop()
