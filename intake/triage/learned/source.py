"""The model a running process uses: the data folder's active one, else the shipped default.

`current()` is called for every request; at most every `check_seconds` it reads the active
pointer, and when the version changed it loads the new model (a few hundred milliseconds, once
per switch). A model that cannot be loaded is logged and the one in use is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from intake.domain.errors import ConfigurationError
from intake.triage.learned.files import load_model
from intake.triage.learned.model import LearnedModel
from intake.triage.learned.store import ModelStore

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "model"


class ModelSource:
    def __init__(
        self,
        *,
        store: ModelStore | None = None,
        shipped: Path | None = SHIPPED,
        custom_dict: Path | None = None,
        check_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._shipped = shipped
        self._custom_dict = custom_dict
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._key: str | None = None
        self._model: LearnedModel | None = None
        self.current()

    @classmethod
    def shipped_only(cls, custom_dict: Path | None = None) -> ModelSource:
        """The default model shipped in the package, never switched."""
        return cls(store=None, custom_dict=custom_dict, check_seconds=float("inf"))

    def current(self) -> LearnedModel | None:
        now = self._clock()
        if now - self._checked_at < self._check_seconds:
            return self._model
        with self._lock:
            if now - self._checked_at >= self._check_seconds:
                self._checked_at = now
                self._refresh()
        return self._model

    def _refresh(self) -> None:
        version = self._store.active() if self._store is not None else None
        folder = (
            self._store.root / version if self._store is not None and version else self._shipped
        )
        key = str(folder) if folder is not None else None
        if key == self._key:
            return
        if folder is None or not (folder / "model.json").exists():
            self._key, self._model = key, None
            return
        try:
            model = load_model(folder, custom_dict=self._custom_dict)
        except ConfigurationError as exc:
            log.error("triage model not switched: %s", exc)
            self._key = key  # not retried until the pointer moves again
            return
        log.info("triage model %s in use (from %s)", model.version, folder)
        self._key, self._model = key, model
