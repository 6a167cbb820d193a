"""Versioned models in the data folder, with an active pointer and its history.

    DATA_DIR/triage/models/<version>/model.npz, model.json
    DATA_DIR/triage/models/ACTIVE      the active version (one line; "default": the shipped one)
    DATA_DIR/triage/models/HISTORY     versions active before, oldest first (for rollback)

Switching writes ACTIVE atomically; running workers read it every few seconds (`ModelSource`)
and load the new model, so no restart is needed.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from intake.domain.errors import InvalidInput
from intake.triage.learned.files import META, load_info, save_model
from intake.triage.learned.model import LearnedModel, ModelInfo

ACTIVE = "ACTIVE"
HISTORY = "HISTORY"
DEFAULT = "default"  # the model shipped in the package
_VERSION = re.compile(r"^\d{8}-\d{6}(-\d+)?$")


def models_folder(data_dir: Path) -> Path:
    return data_dir / "triage" / "models"


def new_version(root: Path, now: datetime | None = None) -> str:
    """YYYYMMDD-HHMMSS (UTC), with -2, -3… when that second is taken."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    version, n = stamp, 1
    while (root / version).exists():
        n += 1
        version = f"{stamp}-{n}"
    return version


class ModelStore:
    """The models of one data folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if _VERSION.match(p.name) and (p / META).exists()
        )

    def infos(self) -> list[ModelInfo]:
        return [load_info(self.root / v) for v in self.versions()]

    def folder(self, version: str) -> Path:
        if version not in self.versions():
            raise InvalidInput(f"no model version {version!r}", field="version")
        return self.root / version

    def add(self, model: LearnedModel) -> Path:
        """Store a model under its version (it must be new); not activated."""
        if not _VERSION.match(model.version) or (self.root / model.version).exists():
            raise InvalidInput(f"bad or taken model version {model.version!r}", field="version")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".new-"))
        save_model(model, staging)
        staging.chmod(0o755)
        os.replace(staging, self.root / model.version)
        return self.root / model.version

    def active(self) -> str | None:
        """The active version, or None (then the shipped default model is used)."""
        try:
            version = (self.root / ACTIVE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return version if version in self.versions() else None

    def activate(self, version: str) -> None:
        if version != DEFAULT:
            self.folder(version)
        previous = self.active() or DEFAULT
        if previous == version:
            return
        self._write(HISTORY, "\n".join([*self._history(), previous]))
        self._write(ACTIVE, version)

    def rollback(self) -> str:
        """Make the previously active version active again; returns it."""
        known = {*self.versions(), DEFAULT}
        history = [v for v in self._history() if v in known]
        current = self.active() or DEFAULT
        while history and history[-1] == current:
            history.pop()
        if not history:
            raise InvalidInput("no previously active model to roll back to", field="version")
        version = history.pop()
        self._write(HISTORY, "\n".join(history))
        self._write(ACTIVE, version)
        return version

    def _history(self) -> list[str]:
        try:
            text = (self.root / HISTORY).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _write(self, name: str, text: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.root / name)
