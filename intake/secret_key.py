"""The service's signing secret: the configured one, or one generated once per data folder.

Rating links (`/r/...`) are signed with it, so it must be unguessable and the same in every
process that reads or makes links. When `INTAKE_SECRET_KEY` is unset (development only; see
`intake.config`), the first process to start writes a random secret to `DATA_DIR/secret_key`
(mode 0600) and every later start and every process on that data folder reads it back, so
links stay valid across restarts. The file appears whole or not at all: it is written under a
temporary name and linked into place, which fails for all but one of several processes
starting at once; the others read the winner's file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from intake.domain.errors import ConfigurationError

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
SECRET_FILE = "secret_key"
_GENERATED_BYTES = 48  # token_urlsafe(48): 64 characters, 384 bits
GENERATE_HINT = (
    f"at least {MIN_SECRET_BYTES} bytes; generate one with: "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
)


def short_secret_problem(value: str) -> str | None:
    """Why a configured secret is refused, or None when it is long enough."""
    size = len(value.encode("utf-8"))
    if size >= MIN_SECRET_BYTES:
        return None
    return f"INTAKE_SECRET_KEY is too short ({size} bytes): {GENERATE_HINT}"


class SecretSettings(Protocol):
    """The part of `intake.config.Settings` read here (that module imports this one)."""

    secret_key: SecretStr | None
    data_dir: Path


def resolve_secret_key(settings: SecretSettings) -> str:
    """The configured secret, else the data folder's own (created on first use)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return data_folder_secret(settings.data_dir / SECRET_FILE)


def data_folder_secret(path: Path) -> str:
    """Read the secret kept at `path`, creating it first when there is none."""
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(_GENERATED_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and refused when another process was first
        except FileExistsError:
            return
        _sync_folder(path.parent)
        log.warning(
            "INTAKE_SECRET_KEY is not set: generated a signing secret in %s (keep this file; "
            "processes on another data folder need INTAKE_SECRET_KEY)",
            path,
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _read(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"secret file {path}: cannot read it ({exc})") from exc
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"secret file {path}: holds fewer than {MIN_SECRET_BYTES} bytes; delete it to "
            "generate a new one (rating links sent so far stop working) or set INTAKE_SECRET_KEY"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secret file %s is readable by other users: chmod 600 it", path)
    return value


def _sync_folder(folder: Path) -> None:
    """Make the new name durable, so that a power cut does not forget the secret."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
