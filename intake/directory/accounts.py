"""Staff accounts and their API tokens (only a hash of each token is stored)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.catalog import Catalog
from intake.domain.enums import Role
from intake.domain.errors import Forbidden, InvalidInput
from intake.domain.models import Staff

TOKEN_PREFIX = "itk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def add_staff(
    session: AsyncSession, *, name: str, role: Role, department: str | None, catalog: Catalog
) -> tuple[Staff, str]:
    """Create an account; the token is returned once and never stored in clear."""
    if role is Role.HANDLER and not department:
        raise InvalidInput("a handler belongs to a department (--department)", field="department")
    if department:
        catalog.department(department)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    staff = Staff(
        name=name,
        role=role.value,
        department=department,
        token_hash=hash_token(token),
        active=True,
        contact={},
    )
    session.add(staff)
    await session.flush()
    return staff, token


async def staff_for_token(session: AsyncSession, token: str) -> Staff:
    staff = await session.scalar(select(Staff).where(Staff.token_hash == hash_token(token)))
    if staff is None or not staff.active:
        raise Forbidden("unknown or inactive token")
    return staff
