"""From a domain event to the jobs it calls for: who hears what, and when.

Pure decisions over the event plus one read of the staff to alert; enqueueing is the caller's.
Events the notifier itself causes (notified, delivery_failed) call for nothing, so the
notifier never feeds on its own output.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.enums import EventKind, Resolution
from intake.domain.models import Staff
from notifier.config import NotifySettings
from notifier.jobs import STAFF, JobSpec
from notifier.routing import department_staff, hotline_staff
from notifier.team import team_jobs

Event = dict[str, Any]
Planner = Callable[[AsyncSession, Event, NotifySettings], Coroutine[Any, Any, list[JobSpec]]]


def event_data(event: Event) -> dict[str, Any]:
    raw = event.get("data") or "{}"
    data = orjson.loads(raw) if isinstance(raw, str | bytes) else dict(raw)
    return data if isinstance(data, dict) else {}


def _at(event: Event) -> datetime:
    return datetime.fromisoformat(event["at"])


def _staff_jobs(event: Event, template: str, staff: list[Staff], **extra: Any) -> list[JobSpec]:
    return [
        JobSpec(
            key=f"staff:{template}:{event['event_id']}:{member.id}",
            template=f"staff_{template}",
            number=event["ticket"],
            audience=STAFF,
            staff_id=member.id,
            event_id=event["event_id"],
            text=event_data(event).get("text"),
            extra=extra,
        )
        for member in staff
    ]


async def _received(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    """The acknowledgement; on channels that answer themselves it waits for their mark.
    It leads with the emergency advice when the message reports one happening now."""
    grace = cfg.passive_ack_grace.get(event.get("channel", ""))
    advice = EmergencyAdvice.from_dict(event_data(event).get("emergency"))
    return [
        JobSpec(
            key=f"ack:{event['ticket']}",
            template="ack",
            number=event["ticket"],
            event_id=event["event_id"],
            urgent=advice is not None,
            extra={"emergency": advice.advice} if advice else {},
            at=_at(event) + grace if grace else None,
        )
    ]


async def _replied(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    data = event_data(event)
    if not data.get("public", True):
        return []
    return [
        JobSpec(
            key=f"reply:{event['event_id']}",
            template="reply",
            number=event["ticket"],
            event_id=event["event_id"],
            text=data.get("text"),
        )
    ]


async def _info_requested(
    session: AsyncSession, event: Event, cfg: NotifySettings
) -> list[JobSpec]:
    """The handler's question must reach the citizen: their answer restarts the clock."""
    return [
        JobSpec(
            key=f"ask:{event['event_id']}",
            template="ask",
            number=event["ticket"],
            event_id=event["event_id"],
            text=event_data(event).get("text"),
        )
    ]


async def _closed(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    """The result, then the survey. An answer given at once may have gone out in the
    channel's own reply (`intake.ingest.send_state.carried_by_reply`): it waits for that mark
    too."""
    number, event_id = event["ticket"], event["event_id"]
    data = event_data(event)
    at_intake = bool(data.get("at_intake"))
    grace = cfg.passive_ack_grace.get(event.get("channel", "")) if at_intake else None
    at = _at(event) + grace if grace else None
    if data.get("resolution") == Resolution.DECLINED.value:
        return [_declined(event, data, at=at)]
    return [
        JobSpec(
            key=f"closed:{event_id}",
            template="closed",
            number=number,
            event_id=event_id,
            text=data.get("text"),
            extra={"at_intake": True} if at_intake else {},
            at=at,
        ),
        JobSpec(
            key=f"survey:{event_id}",
            template="survey",
            number=number,
            event_id=event_id,
            at=_at(event) + cfg.survey_delay,
        ),
    ]


def _declined(event: Event, data: dict[str, Any], *, at: datetime | None) -> JobSpec:
    """不予受理: the polite reply saying where to go instead; nothing was handled, so there is
    no satisfaction survey. Declined by triage at intake, it waits for a channel's own reply
    like the ack (`intake.ingest.send_state.carried_by_reply`)."""
    return JobSpec(
        key=f"declined:{event['event_id']}",
        template="declined",
        number=event["ticket"],
        event_id=event["event_id"],
        text=data.get("text"),
        at=at,
    )


async def _dispatched(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    department = event_data(event).get("department") or event.get("department")
    staff = _staff_jobs(event, "dispatched", await department_staff(session, department))
    return staff + await team_jobs(session, event, "dispatched", department)


async def _returned(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    data = event_data(event)
    return _staff_jobs(
        event, "returned", await hotline_staff(session), department=data.get("from_department")
    )


async def _rated(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    data = event_data(event)
    if data.get("prompt_kind") != "survey" or data.get("rating") != "unsatisfied":
        return []
    number, event_id = event["ticket"], event["event_id"]
    ask = JobSpec(
        key=f"dimensions:{event_id}", template="dimensions", number=number, event_id=event_id
    )
    staff = await department_staff(session, event.get("department") or None)
    return [ask, *_staff_jobs(event, "unsatisfied", staff, reason=data.get("reason"))]


PLANNERS: dict[str, Planner] = {
    EventKind.RECEIVED.value: _received,
    EventKind.REPLIED.value: _replied,
    EventKind.CLOSED.value: _closed,
    EventKind.DISPATCHED.value: _dispatched,
    EventKind.RETURNED.value: _returned,
    EventKind.RATED.value: _rated,
    EventKind.INFO_REQUESTED.value: _info_requested,
}


async def plan(session: AsyncSession, event: Event, cfg: NotifySettings) -> list[JobSpec]:
    planner = PLANNERS.get(event.get("kind", ""))
    return await planner(session, event, cfg) if planner else []
