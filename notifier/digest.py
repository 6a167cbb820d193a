"""Staff alerts without floods: digests per staff member and kind, and their working hours.

The first alert of a kind goes at once and opens a window (`digest_window`); the alerts of that
kind that follow inside the window are not sent but merged: their numbers are kept in Redis and
one `digest` job, due at the window's end, tells the count and the first few numbers. Urgent
alerts (emergencies, red deadlines, unsatisfied ratings, escalations) always go at once. The
decision per job is kept in Redis too, so a retried or re-run job gets the same answer, and
everything survives a restart (Redis and the job queue, never process memory).

Outside a staff member's own working hours (`Staff.contact["work_hours"]`, on the calendar's
working days) a non-urgent alert waits for the start of the next working period.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from redis.asyncio import Redis

from intake.domain.models import Staff
from intake.triage.workdays import WorkCalendar, default_calendar
from notifier.config import NotifySettings
from notifier.facts import TicketFacts
from notifier.jobs import STAFF, JobSpec
from notifier.models import DeliveryStatus
from notifier.records import Ledger, Outcome
from notifier.staff_alerts import StaffAlertSettings, load_staff_alert_settings
from notifier.team import TEAM

log = logging.getLogger(__name__)

DIGEST = "digest"
MORNING = "morning"
STAFF_PREFIX = "staff_"
KIND_LABEL = {
    "staff_dispatched": "新派工单",
    "staff_returned": "退单",
    "staff_yellow": "即将超期工单",
    "staff_red": "超期工单",
    "staff_unsatisfied": "不满意评价",
}
NOW = "now"

# KEYS: window marker, items prefix, per-job decision. ARGV: window id, window ms, number, ttl ms
_ADMIT = """
local decided = redis.call('GET', KEYS[3])
if decided then return decided end
local result = 'now'
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  result = redis.call('GET', KEYS[1])
  local items = KEYS[2] .. result
  if redis.call('SADD', items .. ':seen', ARGV[3]) == 1 then
    redis.call('RPUSH', items, ARGV[3])
  end
  redis.call('PEXPIRE', items, ARGV[4])
  redis.call('PEXPIRE', items .. ':seen', ARGV[4])
end
redis.call('SET', KEYS[3], result, 'PX', ARGV[4])
return result
"""


class StaffGate:
    """Decides, per staff job, whether it goes now, joins a digest, or waits for work hours."""

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        settings: StaffAlertSettings,
        zone: Any,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self.settings = settings
        self._zone = zone
        self._calendar = calendar
        self._admit = redis.register_script(_ADMIT)

    @classmethod
    def open(
        cls, redis: Redis, notify: dict[str, Any] | NotifySettings, namespace: str, zone: Any
    ) -> StaffGate:
        """The gate of a notifier: settings from the `notify` section's `staff`."""
        settings = load_staff_alert_settings(notify)
        return cls(redis, namespace=namespace, settings=settings, zone=zone)

    def urgent(self, spec: JobSpec, ticket: TicketFacts) -> bool:
        return spec.urgent or ticket.urgent or spec.template in self.settings.urgent

    async def hold(
        self,
        jc: Any,
        spec: JobSpec,
        ticket: TicketFacts,
        context: dict[str, Any],
        ledger: Ledger,
        member: Staff | None,
    ) -> str | None:
        """Why the job is not sent now (recorded on the ticket), or None to send it."""
        if _who(spec) is None:
            return None
        urgent = self.urgent(spec, ticket)
        if not urgent and member is not None:
            opens = self.next_work_start(member, jc.clock())
            if opens is not None:
                await jc.enqueue(spec, at=opens, queue_key=f"{spec.key}~{opens:%Y%m%d%H%M}")
                outcome = Outcome(DeliveryStatus.POSTPONED, error="outside working hours")
                ledger.add(spec, ticket.id, outcome, now=jc.clock())
                return f"outside working hours: waits until {opens.isoformat()}"
        if spec.template == DIGEST:
            context.update(await self.contents(spec))
            return None
        if spec.template == MORNING:
            context.update(spec.extra)
            return None
        if urgent or not spec.template.startswith(STAFF_PREFIX) or not self.settings.digest_window:
            return None
        window = await self._window(spec, jc.clock())
        if window is None:
            return None
        digest = self._digest_spec(spec, window)
        await jc.enqueue(digest)
        outcome = Outcome(
            DeliveryStatus.SKIPPED,
            error=f"merged into the digest {digest.key}",
            data={"digest": digest.key},
            attempt=False,
        )
        ledger.add(spec, ticket.id, outcome, now=jc.clock())
        return f"merged into {digest.key}"

    async def _window(self, spec: JobSpec, now: datetime) -> int | None:
        """The open window's id (start in ms) this job joins, or None: it opens one."""
        window_ms = int(self.settings.digest_window.total_seconds() * 1000)
        keep_ms = window_ms * 2 + 86_400_000
        base = f"{self._ns}:{_who(spec)}:{spec.template}"
        result = await self._admit(
            keys=[f"{base}:open", f"{base}:items:", f"{self._ns}:decided:{spec.key}"],
            args=[int(now.timestamp() * 1000), window_ms, spec.number, keep_ms],
        )
        value = result.decode() if isinstance(result, bytes) else str(result)
        return None if value == NOW else int(value)

    def _digest_spec(self, spec: JobSpec, window: int) -> JobSpec:
        ends = datetime.fromtimestamp(window / 1000, tz=self._zone) + self.settings.digest_window
        return JobSpec(
            key=f"digest:{_who(spec)}:{spec.template}:{window}",
            template=DIGEST,
            number=spec.number,  # the first merged ticket carries the digest's delivery
            audience=spec.audience,
            staff_id=spec.staff_id,
            extra={**spec.extra, "kind": spec.template, "window": window},
            at=ends,
        )

    async def contents(self, spec: JobSpec) -> dict[str, Any]:
        kind = str(spec.extra.get("kind", ""))
        items = f"{self._ns}:{_who(spec)}:{kind}:items:{spec.extra.get('window')}"
        numbers = [
            n.decode() if isinstance(n, bytes) else str(n)
            for n in await self._redis.lrange(items, 0, -1)
        ]
        numbers.sort(key=lambda n: (len(n), n))  # ticket numbers: oldest first
        top = numbers[: self.settings.digest_top]
        minutes = int(self.settings.digest_window.total_seconds() // 60)
        return {
            "count": len(numbers),
            "numbers": "、".join(top),
            "more": len(numbers) > len(top),
            "kind": KIND_LABEL.get(kind, kind),
            "minutes": minutes,
        }

    def next_work_start(self, member: Staff, now: datetime) -> datetime | None:
        """None inside the member's working hours (or without any); else when they start."""
        hours = (member.contact or {}).get("work_hours")
        if not hours:
            return None
        start_text, _, end_text = str(hours).partition("-")
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
        local = now.astimezone(self._zone)
        calendar = self._calendar or default_calendar()
        if calendar.is_working_day(local.date()) and start <= local.time() < end:
            return None
        day = local.date() if local.time() < start else local.date() + timedelta(days=1)
        for _ in range(40):
            if calendar.is_working_day(day):
                return datetime.combine(day, start, tzinfo=self._zone)
            day += timedelta(days=1)
        return None


def _who(spec: JobSpec) -> str | None:
    """Whose digest: a staff member's id, or a department's for its group robot."""
    if spec.audience == STAFF and spec.staff_id is not None:
        return str(spec.staff_id)
    if spec.audience == TEAM and spec.extra.get("team"):
        return f"team-{spec.extra['team']}"
    return None
