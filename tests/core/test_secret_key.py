"""The signing secret: refused when weak, generated once per data folder when unset, and the
same in every process on that folder (the children of `intake run` included)."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from intake.config import load_settings
from intake.domain.errors import ConfigurationError
from intake.runtime import Runtime
from intake.secret_key import (
    MIN_SECRET_BYTES,
    SECRET_FILE,
    data_folder_secret,
    resolve_secret_key,
)
from service.child_workers import child_environment

OLD_PUBLIC_SECRET = "dev-insecure-secret-change-me"
PRINT_SECRET = (
    "from intake.config import load_settings\n"
    "from intake.secret_key import resolve_secret_key\n"
    "print(resolve_secret_key(load_settings()))\n"
)


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize("value", ["", "x", OLD_PUBLIC_SECRET, "k" * (MIN_SECRET_BYTES - 1)])
def test_a_short_secret_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, environment: str, value: str
) -> None:
    monkeypatch.setenv("INTAKE_ENVIRONMENT", environment)
    monkeypatch.setenv("INTAKE_SECRET_KEY", value)
    with pytest.raises(ConfigurationError, match="INTAKE_SECRET_KEY") as refused:
        load_settings()
    assert f"at least {MIN_SECRET_BYTES} bytes" in str(refused.value)
    assert not value or value not in str(refused.value)


def test_a_configured_secret_is_used_and_no_file_is_made(tmp_path: Path) -> None:
    secret = "s" * MIN_SECRET_BYTES
    settings = load_settings(data_dir=tmp_path, environment="production", secret_key=secret)
    assert resolve_secret_key(settings) == secret
    assert secret not in repr(settings)
    assert not (tmp_path / SECRET_FILE).exists()


async def test_unset_secret_is_generated_once_and_kept(runtime: Runtime) -> None:
    settings = runtime.settings
    assert settings.secret_key is None and settings.environment == "development"
    path = settings.data_dir / SECRET_FILE
    assert runtime.secret_key != OLD_PUBLIC_SECRET and len(runtime.secret_key) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == runtime.secret_key
    assert resolve_secret_key(settings) == runtime.secret_key  # a later start reads it back
    assert runtime.secret_key not in repr(runtime)


def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    env = child_environment(load_settings(data_dir=tmp_path / "data"), "redis://unused")
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", PRINT_SECRET], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    seen = {start.communicate(timeout=60)[0].strip() for start in starts}
    assert all(start.returncode == 0 for start in starts)
    assert len(seen) == 1 and len(next(iter(seen))) >= 64
    assert seen == {(tmp_path / "data" / SECRET_FILE).read_text().strip()}
    assert [p.name for p in (tmp_path / "data").iterdir()] == [SECRET_FILE]


def test_racing_creators_all_read_the_one_file_that_won(tmp_path: Path) -> None:
    path, gate = tmp_path / SECRET_FILE, threading.Barrier(16)

    def start() -> str:
        gate.wait()
        return data_folder_secret(path)

    with ThreadPoolExecutor(16) as pool:
        seen = set(pool.map(lambda _: start(), range(16)))
    assert seen == {path.read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary file left


def test_a_damaged_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("short\n")
    with pytest.raises(ConfigurationError, match="fewer than 32 bytes"):
        resolve_secret_key(load_settings(data_dir=tmp_path))
