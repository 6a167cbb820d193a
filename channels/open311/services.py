"""The service list: the hotline's category catalogue as GeoReport services.

Every service carries one optional attribute, the request type (诉求类型: consultation,
complaint …), which the hotline's deadlines depend on; so `metadata` is true and
`services/{code}` defines it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from intake.catalog import Catalog
from intake.domain.enums import RequestType
from intake.domain.errors import ConfigurationError
from intake.triage.catalogue import CataloguePaths

KEYWORDS_SHOWN = 8
TYPE_ATTRIBUTE = "request_type"


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    department: str
    keywords: tuple[str, ...]

    def record(self, catalog: Catalog) -> dict[str, object]:
        group = catalog.departments.get(self.department)
        return {
            "service_code": self.code,
            "service_name": self.name,
            "description": self.name,
            "metadata": True,
            "type": "realtime",
            "keywords": ",".join(self.keywords),
            "group": group.name if group else self.department,
        }


def services_file(configured: Path | None) -> Path:
    return configured or CataloguePaths().categories


@lru_cache(maxsize=4)
def load_services(path: Path) -> dict[str, Service]:
    """Read once per process: the catalogue changes with a restart, like triage's."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read categories from {path}: {exc}") from exc
    services: dict[str, Service] = {}
    for raw in [*(data.get("categories") or ()), data.get("fallback")]:
        if not isinstance(raw, dict) or "code" not in raw:
            continue
        weights = raw.get("keywords") or {}
        ranked = sorted(weights, key=lambda word: -float(weights[word]))
        services[str(raw["code"])] = Service(
            code=str(raw["code"]),
            name=str(raw.get("name") or raw["code"]),
            department=str(raw.get("department") or "hotline"),
            keywords=tuple(str(word) for word in ranked[:KEYWORDS_SHOWN]),
        )
    return services


def definition(service: Service) -> dict[str, object]:
    """`services/{code}`: the attributes a client may send as `attribute[code]`."""
    return {
        "service_code": service.code,
        "attributes": [
            {
                "variable": True,
                "code": TYPE_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "诉求类型",
                "order": 1,
                "description": "诉求类型（不填时由热线判断）",
                "values": [{"key": t.value, "name": t.label_zh} for t in RequestType],
            }
        ],
    }
