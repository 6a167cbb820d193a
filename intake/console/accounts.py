"""Staff accounts for the console: names, passwords, disabling, token rotation, sign-in.

The API token stays a SHA-256 hash of a long random token (`intake.directory.accounts`); passwords
are
argon2 hashes. Every change that should end open console sessions raises `session_version`.
Sign-in failures count in the service's rate limiter, per account name and per address: over
either limit, sign-in is refused (locked out) until the window frees a place.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.catalog import Catalog
from intake.console.passwords import hash_password, verify_password
from intake.directory.accounts import TOKEN_PREFIX, add_staff, hash_token
from intake.domain.enums import Role
from intake.domain.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from intake.domain.models import Staff
from intake.ratelimit.attempts import Limiter, Rule

log = logging.getLogger(__name__)

LOCKED_MESSAGE = "登录失败次数过多，账号已暂时锁定，请稍后再试。"
FAILED_MESSAGE = "用户名或密码错误。"


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = " | ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role '{value}' (one of {allowed})", field="role") from None


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidInput("a staff name has 1 to 100 characters, no spaces", field="name")
    return name


async def by_name(session: AsyncSession, name: str) -> Staff:
    rows = list(await session.scalars(select(Staff).where(Staff.name == name).limit(2)))
    if not rows:
        raise NotFound(f"no staff member '{name}'")
    if len(rows) > 1:
        raise InvalidInput(f"several accounts are named '{name}'", field="name")
    return rows[0]


async def create_account(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    department: str | None,
    password: str | None,
    catalog: Catalog,
) -> tuple[Staff, str]:
    """A new account (its API token is returned once); names are unique for sign-in."""
    name = check_name(name)
    taken = await session.scalar(select(func.count()).select_from(Staff).where(Staff.name == name))
    if taken:
        raise InvalidInput(f"the name '{name}' is taken", field="name")
    password_hash = await hash_password(password) if password is not None else None
    staff, token = await add_staff(
        session, name=name, role=role, department=department, catalog=catalog
    )
    staff.password_hash = password_hash
    staff.session_version = 0
    return staff, token


async def set_password(session: AsyncSession, *, name: str, password: str) -> Staff:
    staff = await by_name(session, name)
    staff.password_hash = await hash_password(password)
    staff.session_version = (staff.session_version or 0) + 1
    return staff


async def disable(session: AsyncSession, *, name: str) -> Staff:
    staff = await by_name(session, name)
    staff.active = False
    staff.session_version = (staff.session_version or 0) + 1
    return staff


async def rotate_token(session: AsyncSession, *, name: str) -> tuple[Staff, str]:
    """A new API token; the old one stops working at once."""
    staff = await by_name(session, name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    staff.token_hash = hash_token(token)
    return staff, token


async def list_accounts(session: AsyncSession) -> list[Staff]:
    return list(await session.scalars(select(Staff).order_by(Staff.id)))


async def sign_in(
    session: AsyncSession,
    *,
    name: str,
    password: str,
    limiter: Limiter,
    ip: str,
    now: datetime,
) -> Staff:
    """The account `name` names, if the password matches and nobody is locked out."""
    name = name.strip()[:100]
    for rule, who in ((Rule.SIGNIN_FAILURES_PER_ACCOUNT, name), (Rule.SIGNIN_FAILURES_PER_IP, ip)):
        refusal = await limiter.check(rule, who)
        if refusal is not None:
            raise TooManyRequests(LOCKED_MESSAGE, retry_after=refusal.retry_after)
    staff = await session.scalar(
        select(Staff).where(Staff.name == name, Staff.active, Staff.password_hash.is_not(None))
    )
    if not await verify_password(staff.password_hash if staff else None, password) or not staff:
        await limiter.count(Rule.SIGNIN_FAILURES_PER_ACCOUNT, name)
        await limiter.count(Rule.SIGNIN_FAILURES_PER_IP, ip)
        log.info("console sign-in failed for account #%s", staff.id if staff else "unknown")
        raise Unauthorized(FAILED_MESSAGE)
    staff.last_login_at = now
    log.info("console sign-in: staff #%s (%s)", staff.id, staff.role)
    return staff
