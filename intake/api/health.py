"""Liveness (`/healthz`) and readiness (`/readyz`).

`/healthz` says only that this process answers: an orchestrator restarts a process that does
not, and restarting it would not bring back a database that is down. `/readyz` says whether
the intake can take messages now, component by component: the database and Redis answer, a
pipeline worker is alive (its heartbeat, `intake.redis.heartbeat`, from whichever process runs it),
and the oldest message no pipeline has read yet is younger than
`INTAKE_PIPELINE__READY_LAG_S`. It answers 503 when any of those fails. The notifier is
reported too, but a dead notifier does not stop the intake: messages wait for it, durably.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.exceptions import ResponseError
from sqlalchemy import text

from intake.api.deps import RuntimeDep
from intake.redis import heartbeat
from intake.redis.keys import PIPELINE_GROUP
from intake.runtime import Runtime

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0
Check = dict[str, Any]


@router.get("/healthz", summary="liveness: this process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="readiness: the intake can take messages")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    database, redis, pipeline, lag, notifier = await asyncio.gather(
        _bounded(_database(runtime)),
        _bounded(_redis(runtime)),
        _bounded(_workers(runtime, "pipeline")),
        _bounded(_lag(runtime)),
        _bounded(_workers(runtime, "notifier")),
    )
    notifier["required"] = False
    components = {
        "database": database,
        "redis": redis,
        "pipeline": pipeline,
        "pipeline_lag": lag,
        "notifier": notifier,
    }
    ready = all(c["status"] == "ok" for c in components.values() if c.get("required", True))
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "components": components},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


async def _bounded(check: Awaitable[Check]) -> Check:
    """A check's answer, or its failure named by type: readiness reports, it does not raise."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await check
    except TimeoutError:
        return {"status": "failed", "error": f"no answer in {CHECK_TIMEOUT_S:.0f} s"}
    except Exception as exc:  # any failure of a dependency is "not ready"
        return {"status": "failed", "error": type(exc).__name__}


async def _database(runtime: Runtime) -> Check:
    async with runtime.db.read() as session:
        await session.execute(text("SELECT 1"))
    return {"status": "ok"}


async def _redis(runtime: Runtime) -> Check:
    await runtime.redis.client.ping()
    return {"status": "ok"}


async def _workers(runtime: Runtime, kind: str) -> Check:
    key = runtime.redis.keys.heartbeats(kind)
    alive = await heartbeat.living(runtime.redis.client, key)
    return {"status": "ok" if alive else "failed", "alive": alive}


async def _lag(runtime: Runtime) -> Check:
    """Age of the oldest intake entry that no pipeline consumer has read yet. Entries being
    processed or retried are counted apart (`pending`): a message that keeps failing goes to
    the dead letters on its own and does not make the intake unready meanwhile."""
    client, stream = runtime.redis.client, runtime.redis.keys.inbound
    bound = runtime.settings.pipeline.ready_lag_s
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:  # no stream yet: nothing was ever submitted
        groups = []
    group = next((g for g in groups if g["name"] == PIPELINE_GROUP), None)
    last_read = group["last-delivered-id"] if group else "0-0"
    pending = int(group["pending"]) if group else 0
    unread = await client.xrange(stream, min=f"({last_read}", max="+", count=1)
    now = await heartbeat.server_time(client)
    lag = max(0.0, now - int(unread[0][0].split("-")[0]) / 1000) if unread else 0.0
    return {
        "status": "ok" if lag <= bound else "failed",
        "seconds": round(lag, 3),
        "bound_s": bound,
        "pending": pending,
    }
