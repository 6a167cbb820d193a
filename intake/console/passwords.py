"""Staff passwords, hashed with argon2id (argon2-cffi's defaults, the RFC 9106 profile).

Hashing costs tens of milliseconds of CPU on purpose: it runs in a worker thread so that the
event loop keeps serving while somebody signs in.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from intake.domain.errors import InvalidInput

_HASHER = PasswordHasher()
MIN_LENGTH = 10
MAX_LENGTH = 256
# verified when the account does not exist, so that a wrong name costs as long as a wrong password
_DUMMY = _HASHER.hash("not a password of anybody's")


def check_strength(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_LENGTH} characters", field="password")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, check_strength(password))


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches; an account without a password never matches."""
    return await asyncio.to_thread(_verify, stored, password[:MAX_LENGTH])
