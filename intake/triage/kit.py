"""Everything triage needs at run time, loaded once per process from operator-editable files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from intake.triage.deadlines import DeadlineRules
from intake.triage.engine import Triage
from intake.triage.learned.source import ModelSource
from intake.triage.learned.store import ModelStore
from intake.triage.repeat_rules import FollowUpRules
from intake.triage.special_service import SpecialServiceList
from intake.triage.workdays import WorkCalendar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriageFiles:
    emergency: Path | None = None
    out_of_scope: Path | None = None
    request_types: Path | None = None
    categories: Path | None = None
    kb: Path | None = None
    gazetteer: Path | None = None
    custom_dict: Path | None = None
    departments: Path | None = None
    deadlines: Path | None = None
    special_service: Path | None = None
    holidays_override: Path | None = None
    repeats: Path | None = None
    # the data folder's models (DATA_DIR/triage/models); None: the shipped model only
    models: Path | None = None
    learned: bool = True
    model_check_seconds: float = 2.0


@dataclass(frozen=True)
class TriageKit:
    triage: Triage
    deadlines: DeadlineRules
    special: SpecialServiceList
    calendar: WorkCalendar
    follow_ups: FollowUpRules = field(default_factory=FollowUpRules.load)

    @classmethod
    def load(cls, files: TriageFiles, *, today: datetime) -> TriageKit:
        triage = Triage.load(
            emergency=files.emergency,
            out_of_scope=files.out_of_scope,
            request_types=files.request_types,
            categories=files.categories,
            kb=files.kb,
            gazetteer=files.gazetteer,
            custom_dict=files.custom_dict,
            departments=files.departments,
            learned=_model_source(files),
        )
        deadlines = DeadlineRules.load(files.deadlines) if files.deadlines else DeadlineRules.load()
        special = (
            SpecialServiceList.load(files.special_service)
            if files.special_service
            else SpecialServiceList.load()
        )
        calendar = (
            WorkCalendar(files.holidays_override) if files.holidays_override else WorkCalendar()
        )
        for warning in calendar.coverage_warnings(today.date()):
            log.warning("%s", warning)
        return cls(
            triage=triage,
            deadlines=deadlines,
            special=special,
            calendar=calendar,
            follow_ups=FollowUpRules.load(files.repeats),
        )


def _model_source(files: TriageFiles) -> ModelSource | None:
    """The learned model the pipeline follows, unless turned off (the rules alone then)."""
    if not files.learned:
        return None
    return ModelSource(
        store=ModelStore(files.models) if files.models is not None else None,
        custom_dict=files.custom_dict,
        check_seconds=files.model_check_seconds,
    )
