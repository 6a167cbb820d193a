"""Everything triage needs at run time, loaded once per process from operator-editable files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from intake.triage.deadlines import DeadlineRules
from intake.triage.engine import Triage
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
