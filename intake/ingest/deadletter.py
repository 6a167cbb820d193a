"""Messages that could not be processed: kept with their reason, listed, and replayable.

A reason names the error by type, statement and place (`intake.error_summary.describe`), never
with the values it failed on. Reasons stored before that rule (marked by the absence of
`_redacted`) are shown only up to the first quote or bracket, where values began.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import redis.asyncio as aioredis

from intake import metrics
from intake.domain.clock import utcnow
from intake.redis.keys import PIPELINE_GROUP as GROUP
from intake.redis.keys import Keys

log = logging.getLogger(__name__)

_VALUES_BEGIN = re.compile(r"[(\[{'\"\n]")


@dataclass(frozen=True)
class DeadLetter:
    id: str
    original_id: str
    reason: str
    failed_at: str
    attempts: int
    fields: dict[str, str]


async def bury(
    redis: aioredis.Redis,
    keys: Keys,
    *,
    entry_id: str,
    fields: dict[str, str],
    reason: str,
    attempts: int,
) -> str:
    """Move an intake entry to the dead-letter stream, atomically with its removal."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(
            keys.deadletter,
            {
                **fields,
                "_original_id": entry_id,
                "_reason": reason[:2000],
                "_redacted": "1",
                "_failed_at": utcnow().isoformat(),
                "_attempts": str(attempts),
            },
        )
        pipe.xack(keys.inbound, GROUP, entry_id)
        pipe.xdel(keys.inbound, entry_id)
        pipe.hdel(keys.attempts, entry_id, f"{entry_id}:error")
        dead_id, *_ = await pipe.execute()
    metrics.dead_lettered("unreadable" if reason.startswith("unreadable") else "failed")
    log.error("dead-lettered entry=%s as %s reason=%s", entry_id, dead_id, reason[:300])
    return str(dead_id)


async def list_dead(redis: aioredis.Redis, keys: Keys, *, count: int = 100) -> list[DeadLetter]:
    entries = await redis.xrange(keys.deadletter, count=count)
    return [_to_dead_letter(entry_id, fields) for entry_id, fields in entries]


async def replay(redis: aioredis.Redis, keys: Keys, dead_id: str) -> str:
    """Put the original message back on the intake stream; the pipeline dedupes it anyway."""
    entries = await redis.xrange(keys.deadletter, min=dead_id, max=dead_id)
    if not entries:
        raise KeyError(dead_id)
    _, fields = entries[0]
    original = {k: v for k, v in fields.items() if not k.startswith("_")}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(keys.inbound, original)
        pipe.xdel(keys.deadletter, dead_id)
        new_id, _ = await pipe.execute()
    log.info("replayed dead letter %s as entry %s", dead_id, new_id)
    return str(new_id)


def _to_dead_letter(entry_id: str, fields: dict[str, str]) -> DeadLetter:
    return DeadLetter(
        id=entry_id,
        original_id=fields.get("_original_id", ""),
        reason=_shown_reason(fields),
        failed_at=fields.get("_failed_at", ""),
        attempts=int(fields.get("_attempts", "0")),
        fields={k: v for k, v in fields.items() if not k.startswith("_")},
    )


def _shown_reason(fields: dict[str, str]) -> str:
    reason = fields.get("_reason", "")
    if fields.get("_redacted") == "1":
        return reason
    cut = _VALUES_BEGIN.search(reason)
    return reason if cut is None else f"{reason[: cut.start()].rstrip()} (details withheld)"
