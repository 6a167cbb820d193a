"""Operator-edited catalogues (departments, …) loaded from data files with shipped defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from intake.domain.errors import ConfigurationError, InvalidInput

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    hotline: str | None = None


@dataclass(frozen=True)
class Catalog:
    departments: dict[str, Department]

    @classmethod
    def load(cls, departments_file: Path | None = None) -> Catalog:
        path = departments_file or DATA / "departments.yaml"
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            items = [Department(**item) for item in raw["departments"]]
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read departments from {path}: {exc}") from exc
        return cls(departments={d.code: d for d in items})

    def department(self, code: str) -> Department:
        if code not in self.departments:
            raise InvalidInput(f"unknown department '{code}'", field="department")
        return self.departments[code]
