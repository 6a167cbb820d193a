"""Open311 partners' API keys: a long random token shown once, only its SHA-256 stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from intake.integration.models import ApiKey

KEY_PREFIX = "o311_"
MAX_NAME = 100


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def add_key(session: AsyncSession, *, name: str, at: datetime) -> tuple[ApiKey, str]:
    """A new key for the partner `name`; the clear key is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"a key's name has 1 to {MAX_NAME} characters", field="name")
    if await session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise Conflict(f"a key named '{name}' exists (revoke it first, or pick another name)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(key), active=True, created_at=at)
    session.add(row)
    await session.flush()
    return row, key


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.id))).all())


async def revoke_key(session: AsyncSession, *, name: str, at: datetime) -> ApiKey:
    row = await session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        raise NotFound(f"no key named '{name}'")
    row.active, row.revoked_at = False, row.revoked_at or at
    return row


async def key_for(session: AsyncSession, key: str) -> ApiKey:
    """The active key `key` names; `Forbidden` for an unknown or revoked one."""
    row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or not row.active:
        raise Forbidden("unknown or revoked api_key")
    return row
