"""Team alerts: new work for a department posted once into its group chat (a WeCom robot).

Planned beside the per-person alerts when the department registered a robot
(`intake.directory.department_alerts`); the route names the department, and the robot sender looks
its
URL up when it sends, so the webhook key never sits in the job queue and a changed URL applies
at once. Team alerts are merged into digests like a person's (keyed by the department).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake.directory.department_alerts import robot_url
from intake.domain.messages import IdentityKind, SenderIdentity
from notifier.jobs import JobSpec
from notifier.routing import Route

TEAM = "team"
ROBOT_CHANNEL = "wecom_robot"
ROBOT_ACCOUNT = "robot"


async def team_jobs(
    session: AsyncSession, event: dict[str, Any], template: str, department: str | None
) -> list[JobSpec]:
    if not department or not await robot_url(session, department):
        return []
    return [
        JobSpec(
            key=f"team:{template}:{event['event_id']}:{department}",
            template=f"staff_{template}",
            number=event["ticket"],
            audience=TEAM,
            event_id=event["event_id"],
            extra={"team": department},
        )
    ]


def team_routes(spec: JobSpec) -> list[Route]:
    department = str(spec.extra.get("team") or "")
    if not department:
        return []
    recipient = SenderIdentity(IdentityKind.WECOM, department, account=ROBOT_ACCOUNT)
    return [Route(ROBOT_CHANNEL, recipient)]
