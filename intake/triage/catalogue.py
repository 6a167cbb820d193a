"""Loading and validating the triage catalogues (YAML data files shipped in `data/`).

Rules are data so that operators can correct them without a release: every path can be pointed
at an edited copy (`CataloguePaths`). Files are validated at load time (unknown department
codes, unknown request types, empty rules) so that a bad edit is refused at start-up with a
clear message instead of silently mis-routing tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from intake.domain.errors import ConfigurationError
from intake.triage.cues import Cues, load_cues
from intake.triage.models import REQUEST_TYPES
from intake.triage.text import normalise

DATA_DIR = Path(__file__).resolve().parent / "data"
DEPARTMENTS_FILE = Path(__file__).resolve().parent.parent / "data" / "departments.yaml"


@dataclass(frozen=True, slots=True)
class CataloguePaths:
    """Where each catalogue lives; defaults are the shipped files."""

    emergency: Path = DATA_DIR / "emergency.yaml"
    out_of_scope: Path = DATA_DIR / "out_of_scope.yaml"
    request_types: Path = DATA_DIR / "request_types.yaml"
    categories: Path = DATA_DIR / "categories.yaml"
    kb: Path = DATA_DIR / "kb.yaml"
    gazetteer: Path = DATA_DIR / "gazetteer.yaml"
    custom_dict: Path = DATA_DIR / "custom_dict.txt"
    departments: Path = DEPARTMENTS_FILE
    context: Path = DATA_DIR / "context.yaml"
    emergency_model: Path = DATA_DIR / "emergency_model"  # no folder: keywords alone

    def with_overrides(self, **paths: Path | str | None) -> CataloguePaths:
        """A copy with the given paths replaced (None values are ignored)."""
        return replace(self, **{k: Path(v) for k, v in paths.items() if v is not None})


@dataclass(frozen=True, slots=True)
class GuardRule:
    """An emergency or out-of-scope rule: any keyword fires it, unless an `unless` word occurs."""

    id: str
    keywords: tuple[str, ...]
    unless: tuple[str, ...]
    reply: str
    name: str = ""
    service: str = ""
    # emergency: words that name danger only when it is happening now (a now word in their
    # sentence or a call for help in the message), e.g. "冒烟", "撞倒", "漏气"
    now_keywords: tuple[str, ...] = ()
    # out of scope: phrases that make the matter a letter's main request when asked for
    # ("督促法院", "改判", "请纪委"), see guards.is_main_request
    main_request: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TypeRules:
    keywords: dict[str, dict[str, float]]
    names: dict[str, str]
    min_score: float
    min_confidence: float
    question_mark_weight: float
    category_prior_weight: float
    default_type: str
    # how a message begins ("感谢…", "建议…", "请问…") says much about its type
    openings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    opening_weight: float = 0.0
    # thanks said out of politeness is not praise ("提前感谢", "……请尽快处理，谢谢！")
    thanks: frozenset[str] = frozenset()
    politeness: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    department: str
    keywords: dict[str, float]
    co_departments: tuple[str, ...] = ()
    default_type: str | None = None
    local: bool = False


@dataclass(frozen=True, slots=True)
class CategoryCatalogue:
    categories: tuple[Category, ...]
    fallback: Category
    min_score: float
    min_confidence: float
    urgency_keywords: tuple[str, ...] = ()

    def get(self, code: str) -> Category:
        for category in self.categories:
            if category.code == code:
                return category
        return self.fallback


@dataclass(frozen=True, slots=True)
class KbEntry:
    id: str
    title: str
    answer: str
    keyword_groups: tuple[tuple[str, ...], ...]
    questions: tuple[str, ...] = ()
    category: str | None = None
    # words that mean another question ("盗刷" asked of card replacement): never closes on them
    not_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KbRules:
    """When an answer may close a ticket by itself, and how many to suggest otherwise."""

    threshold: float = 0.75
    margin: float = 0.05  # the best entry must beat the runner-up by this much to close
    suggest_threshold: float = 0.75
    suggest_max: int = 3
    # a question's topic words the entry may leave unmentioned and still close (see kb.py)
    max_unexplained: int = 1
    # words that make any question one for an agent ("为什么", "没到账": a case, not a how-to)
    not_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    office: str | None
    aliases: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    places: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All triage data, loaded and cross-checked."""

    emergency: tuple[GuardRule, ...]
    out_of_scope: tuple[GuardRule, ...]
    types: TypeRules
    categories: CategoryCatalogue
    kb_entries: tuple[KbEntry, ...]
    kb_threshold: float
    districts: tuple[District, ...]
    departments: frozenset[str]
    paths: CataloguePaths = field(default_factory=CataloguePaths)
    kb_rules: KbRules = field(default_factory=KbRules)
    cues: Cues = field(default_factory=Cues)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning every failure into a ConfigurationError naming the file."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read triage catalogue {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping at the top level")
    return data


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _guard_rules(path: Path, *, emergency: bool) -> tuple[GuardRule, ...]:
    data = read_yaml(path)
    template = str(data.get("reply_template", "请立即拨打{service}。"))
    rules: list[GuardRule] = []
    for raw in data.get("rules") or ():
        keywords = _strings(raw.get("keywords"))
        if not raw.get("id") or not keywords:
            raise ConfigurationError(f"{path}: every rule needs an id and keywords: {raw!r}")
        service = str(raw.get("service", ""))
        name = str(raw.get("service_name" if emergency else "name", ""))
        if emergency and not service:
            raise ConfigurationError(f"{path}: emergency rule {raw['id']} needs a service number")
        reply = template.format(service=service, service_name=name) if emergency else ""
        reply = str(raw.get("reply", reply))
        if not reply:
            raise ConfigurationError(f"{path}: rule {raw['id']} needs a reply")
        unless = tuple(normalise(w) for w in _strings(raw.get("unless")))
        keywords = tuple(normalise(w) for w in keywords)
        now_keywords = tuple(normalise(w) for w in _strings(raw.get("now_keywords")))
        main_request = tuple(normalise(w) for w in _strings(raw.get("main_request")))
        rules.append(
            GuardRule(
                str(raw["id"]), keywords, unless, reply, name, service, now_keywords, main_request
            )
        )
    return tuple(rules)


def _type_rules(path: Path) -> TypeRules:
    data = read_yaml(path)
    types = data.get("types") or {}
    unknown = set(types) - set(REQUEST_TYPES)
    if unknown or not types:
        raise ConfigurationError(f"{path}: unknown or missing request types {sorted(unknown)}")
    default_type = str(data.get("default_type", "consultation"))
    if default_type not in REQUEST_TYPES:
        raise ConfigurationError(f"{path}: unknown default_type {default_type}")
    return TypeRules(
        keywords={t: _weights(path, spec.get("keywords")) for t, spec in types.items()},
        names={t: str(spec.get("name", t)) for t, spec in types.items()},
        min_score=float(data.get("min_score", 2.0)),
        min_confidence=float(data.get("min_confidence", 0.34)),
        question_mark_weight=float(data.get("question_mark_weight", 1.0)),
        category_prior_weight=float(data.get("category_prior_weight", 1.5)),
        default_type=default_type,
        openings=_openings(path, data.get("openings")),
        opening_weight=float(data.get("opening_weight", 0.0)),
        thanks=frozenset(normalise(w) for w in _strings(data.get("thanks"))),
        politeness=tuple(normalise(w) for w in _strings(data.get("politeness"))),
    )


def _openings(path: Path, raw: Any) -> dict[str, tuple[str, ...]]:
    openings = raw or {}
    if not isinstance(openings, dict) or set(openings) - set(REQUEST_TYPES):
        raise ConfigurationError(f"{path}: openings must map request types to word lists")
    return {str(t): tuple(normalise(str(w)) for w in words or ()) for t, words in openings.items()}


def _weights(path: Path, raw: Any) -> dict[str, float]:
    if isinstance(raw, list):
        return {str(k): 1.0 for k in raw}
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: keywords must be a mapping of word: weight")
    return {str(k): float(v) for k, v in raw.items()}


def _category(path: Path, raw: dict[str, Any], departments: frozenset[str]) -> Category:
    code = str(raw.get("code", ""))
    department = str(raw.get("department", ""))
    co_departments = _strings(raw.get("co_departments"))
    for dept in (department, *co_departments):
        if dept not in departments:
            raise ConfigurationError(f"{path}: category {code!r}: unknown department {dept!r}")
    default_type = raw.get("default_type")
    if default_type is not None and default_type not in REQUEST_TYPES:
        raise ConfigurationError(f"{path}: category {code!r}: unknown type {default_type!r}")
    return Category(
        code=code,
        name=str(raw.get("name", code)),
        department=department,
        keywords=_weights(path, raw.get("keywords") or {}),
        co_departments=co_departments,
        default_type=default_type,
        local=bool(raw.get("local", False)),
    )


def _categories(path: Path, departments: frozenset[str]) -> CategoryCatalogue:
    data = read_yaml(path)
    categories = tuple(_category(path, raw, departments) for raw in data.get("categories") or ())
    codes = [c.code for c in categories]
    if not categories or len(set(codes)) != len(codes) or "" in codes:
        raise ConfigurationError(f"{path}: categories missing, unnamed or duplicated")
    default_fallback = {"code": "other", "name": "其他", "department": "hotline"}
    fallback = _category(path, data.get("fallback") or default_fallback, departments)
    return CategoryCatalogue(
        categories=categories,
        fallback=fallback,
        min_score=float(data.get("min_score", 2.0)),
        min_confidence=float(data.get("min_confidence", 0.34)),
        urgency_keywords=_strings(data.get("urgency_keywords")),
    )


def _kb(path: Path) -> tuple[tuple[KbEntry, ...], KbRules]:
    data = read_yaml(path)
    entries: list[KbEntry] = []
    for raw in data.get("entries") or ():
        groups = tuple(_strings(group) for group in raw.get("keywords") or ())
        if not raw.get("id") or not raw.get("answer") or not groups or not all(groups):
            raise ConfigurationError(f"{path}: entry needs id, answer and keyword groups: {raw!r}")
        entries.append(
            KbEntry(
                id=str(raw["id"]),
                title=str(raw.get("title", raw["id"])),
                answer=str(raw["answer"]),
                keyword_groups=groups,
                questions=_strings(raw.get("questions")),
                category=raw.get("category"),
                not_words=_strings(raw.get("not")),
            )
        )
    threshold = float(data.get("threshold", 0.75))
    rules = KbRules(
        threshold=threshold,
        margin=float(data.get("margin", 0.05)),
        suggest_threshold=float(data.get("suggest_threshold", threshold)),
        suggest_max=int(data.get("suggest_max", 3)),
        not_words=_strings(data.get("not")),
        max_unexplained=int(data.get("max_unexplained", 1)),
    )
    return tuple(entries), rules


def _districts(path: Path) -> tuple[District, ...]:
    data = read_yaml(path)
    return tuple(
        District(
            code=str(raw["code"]),
            name=str(raw["name"]),
            office=raw.get("office"),
            aliases=_strings(raw.get("aliases")),
            streets=_strings(raw.get("streets")),
            places=_strings(raw.get("places")),
        )
        for raw in data.get("districts") or ()
    )


def load_departments(path: Path) -> frozenset[str]:
    """The department codes a ticket may be routed to (intake/data/departments.yaml)."""
    data = read_yaml(path)
    codes = frozenset(str(d["code"]) for d in data.get("departments") or () if "code" in d)
    if not codes:
        raise ConfigurationError(f"{path}: no departments")
    return codes


def load_catalogue(paths: CataloguePaths | None = None) -> Catalogue:
    """Load every catalogue file and cross-check them; raises ConfigurationError on bad data."""
    paths = paths or CataloguePaths()
    departments = load_departments(paths.departments)
    kb_entries, kb_rules = _kb(paths.kb)
    return Catalogue(
        emergency=_guard_rules(paths.emergency, emergency=True),
        out_of_scope=_guard_rules(paths.out_of_scope, emergency=False),
        types=_type_rules(paths.request_types),
        categories=_categories(paths.categories, departments),
        kb_entries=kb_entries,
        kb_threshold=kb_rules.threshold,
        districts=_districts(paths.gazetteer),
        departments=departments,
        paths=paths,
        kb_rules=kb_rules,
        cues=load_cues(paths.context),
    )
