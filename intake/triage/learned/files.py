"""A model on disk as data only: `model.npz` (numpy arrays, read with allow_pickle=False) and
`model.json` (vocabulary, classes, settings, figures). Loading runs no code from the files."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import numpy as np

from intake.domain.errors import ConfigurationError
from intake.triage.learned.features import FeatureSettings, Featurizer
from intake.triage.learned.head import LinearHead
from intake.triage.learned.model import LearnedModel, ModelInfo
from intake.triage.text import Segmenter

ARRAYS = "model.npz"
META = "model.json"
HEADS = ("category", "request_type")
FORMAT = 1


def save_model(model: LearnedModel, folder: Path) -> None:
    """Write the model's two files into `folder` (created), each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"idf": model.featurizer.idf.astype(np.float32)}
    classes: dict[str, list[str]] = {}
    for name in HEADS:
        head: LinearHead | None = getattr(model, name)
        if head is None:
            continue
        classes[name] = list(head.classes)
        arrays[f"{name}_weights"] = head.weights.astype(np.float32)
        arrays[f"{name}_intercept"] = head.intercept.astype(np.float32)
        arrays[f"{name}_sigmoid_a"] = head.sigmoid_a.astype(np.float32)
        arrays[f"{name}_sigmoid_b"] = head.sigmoid_b.astype(np.float32)
    meta = {
        "format": FORMAT,
        **model.info.to_dict(),
        "features": model.featurizer.settings.to_dict(),
        "classes": classes,
        "vocabulary": model.featurizer.terms,
    }
    with _atomic(folder / ARRAYS, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    with _atomic(folder / META, "w") as handle:
        json.dump(meta, handle, ensure_ascii=False, separators=(",", ":"))


def load_info(folder: Path) -> ModelInfo:
    return ModelInfo.from_dict(_meta(folder))


def load_model(folder: Path, *, custom_dict: Path | None = None) -> LearnedModel:
    """Read a stored model; ConfigurationError names the folder when it is unusable."""
    meta = _meta(folder)
    try:
        with np.load(folder / ARRAYS, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        settings = FeatureSettings.from_dict(meta.get("features") or {})
        featurizer = _shared_featurizer(settings, meta["vocabulary"], arrays["idf"], custom_dict)
        heads = {
            name: _head(arrays, name, meta["classes"][name])
            for name in HEADS
            if name in meta["classes"]
        }
        model = LearnedModel(
            info=ModelInfo.from_dict(meta),
            featurizer=featurizer,
            category=heads["category"],
            request_type=heads.get("request_type"),
        )
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot load triage model {folder}: {exc}") from exc
    return model


_featurizers: weakref.WeakValueDictionary[str, Featurizer] = weakref.WeakValueDictionary()


def _shared_featurizer(
    settings: FeatureSettings, terms: list[str], idf: np.ndarray, custom_dict: Path | None
) -> Featurizer:
    """One featurizer for every loaded model with the same features (the category and the
    emergency model are trained on one vocabulary): a letter read by both is vectorised once."""
    digest = hashlib.sha256(json.dumps([settings.to_dict(), terms, str(custom_dict)]).encode())
    digest.update(np.ascontiguousarray(idf, dtype=np.float32).tobytes())
    key = digest.hexdigest()
    found = _featurizers.get(key)
    if found is None:
        vocabulary = {term: i for i, term in enumerate(terms)}
        segmenter = Segmenter.get(custom_dict) if settings.words else None
        found = Featurizer(settings, vocabulary, idf, segmenter)
        _featurizers[key] = found
    return found


def _head(arrays: dict[str, np.ndarray], name: str, classes: list[str]) -> LinearHead:
    weights = arrays[f"{name}_weights"]
    if weights.shape[0] != arrays["idf"].shape[0]:
        raise ValueError(f"{name}: weights do not match the vocabulary")
    return LinearHead(
        classes=tuple(classes),
        weights=weights,
        intercept=arrays[f"{name}_intercept"],
        sigmoid_a=arrays[f"{name}_sigmoid_a"],
        sigmoid_b=arrays[f"{name}_sigmoid_b"],
    )


def _meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read triage model {folder}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigurationError(f"{folder / META}: not a triage model of format {FORMAT}")
    return meta


@contextmanager
def _atomic(path: Path, mode: str) -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
        os.chmod(tmp, 0o644)  # data, readable like the rest of the package and data folder
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
