"""What the `intake triage` commands do: train, evaluate, list and switch the models of one
data folder, checked against the catalogue the service runs with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intake.config import Settings
from intake.triage.engine import Triage
from intake.triage.learned.dataset import Row, check_labels, merge
from intake.triage.learned.files import load_info, load_model
from intake.triage.learned.model import LearnedModel, ModelInfo
from intake.triage.learned.source import SHIPPED
from intake.triage.learned.store import ModelStore, models_folder, new_version


@dataclass(frozen=True)
class Workbench:
    store: ModelStore
    rules_triage: Triage  # the keyword rules alone, to compare with
    custom_dict: Path | None = None

    @classmethod
    def open(cls, settings: Settings) -> Workbench:
        config = settings.triage
        rules = Triage.load(
            emergency=config.emergency_file,
            out_of_scope=config.out_of_scope_file,
            request_types=config.request_types_file,
            categories=config.categories_file,
            kb=config.kb_file,
            gazetteer=config.gazetteer_file,
            custom_dict=config.custom_dict_file,
            departments=settings.catalog.departments_file,
        )
        return cls(ModelStore(models_folder(settings.data_dir)), rules, config.custom_dict_file)

    @property
    def codes(self) -> frozenset[str]:
        categories = self.rules_triage.catalogue.categories
        return frozenset([*(c.code for c in categories.categories), categories.fallback.code])

    def rules(self, text: str) -> tuple[str, str]:
        decision = self.rules_triage.assess(text)
        return decision.category.label, decision.request_type.label

    def train(self, rows: Sequence[Row], corrections: Sequence[Row] = ()) -> LearnedModel:
        """Check the labels, train, store a new version and make it the active one."""
        from intake.triage.learned.training import train  # scikit-learn: only when training

        check_labels([*rows, *corrections], self.codes)
        merged = merge(rows, corrections)
        model = train(merged, version=new_version(self.store.root), rules=self.rules)
        self.store.add(model)
        self.store.activate(model.version)
        return model

    def evaluate(self, rows: Sequence[Row]) -> tuple[str, dict[str, Any]]:
        """The active model's figures on `rows` (and the rules'); nothing changes."""
        from intake.triage.learned.evaluation import evaluate

        check_labels(rows, self.codes)
        model = self.active_model()
        return model.version, evaluate(model, rows, rules=self.rules)

    def active_model(self) -> LearnedModel:
        version = self.store.active()
        folder = self.store.root / version if version else SHIPPED
        return load_model(folder, custom_dict=self.custom_dict)


def listing(store: ModelStore) -> list[tuple[ModelInfo, bool, bool]]:
    """(info, is active, is the shipped default) for every model, the shipped one first."""
    active = store.active()
    shipped = [(load_info(SHIPPED), active is None, True)] if SHIPPED.is_dir() else []
    return shipped + [(info, info.version == active, False) for info in store.infos()]
