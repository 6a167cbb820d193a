"""`GET /metrics`: Prometheus's text format, for every process of the installation.

Unauthenticated, as Prometheus expects; it shows counts only (no phone, id or ticket number),
but a public deployment keeps it off the internet at its reverse proxy.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from intake.api.deps import RuntimeDep
from intake.api.metrics_sampled import Sampler
from intake.metrics import CONTENT_TYPE, exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    state = request.app.state
    sampler: Sampler | None = getattr(state, "metrics_sampler", None)
    if sampler is None:
        sampler = state.metrics_sampler = Sampler()
    sampled = await sampler.sample(runtime)
    # reading every process's files is file I/O: off the event loop
    body = await asyncio.to_thread(exposition, sampled)
    return Response(body, media_type=CONTENT_TYPE)
