"""Small helpers shared by the core tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from intake.models import Ticket
from intake.runtime import Runtime


def request_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "phone": "13812345678",
        "name": "张三",
        "request_type": "complaint",
        "content": "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。",
        "address": "幸福路12号",
    }
    body.update(overrides)
    return body


async def drain(runtime: Runtime) -> None:
    await runtime.pipeline_worker(consumer="test").drain(limit_s=30)


async def ticket_count(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)
