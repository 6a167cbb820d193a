"""Which partner filed which ticket through Open311, with the token it was given."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.integration.models import Open311Request


async def remember(
    session: AsyncSession,
    *,
    number: str,
    api_key_id: int,
    service_code: str,
    query_code: str,
    media_url: str | None,
    at: datetime,
) -> Open311Request:
    """The row of a new submission, or the one a retry of it made before."""
    row = await session.get(Open311Request, number)
    if row is not None:
        return row
    row = Open311Request(
        number=number,
        api_key_id=api_key_id,
        token=secrets.token_hex(16),
        service_code=service_code,
        query_code=query_code,
        media_url=media_url,
        created_at=at,
    )
    session.add(row)
    await session.flush()
    return row


async def submission_for_token(session: AsyncSession, token: str) -> Open311Request | None:
    return await session.scalar(select(Open311Request).where(Open311Request.token == token))
