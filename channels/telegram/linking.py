"""Staff ↔ chat links: one-time codes from the staff API, and the chat's staff member.

The code is the only secret: it lives ten minutes in Redis and is consumed by GETDEL, so it
works once. The link itself is stored where the notifier reads contacts
(`Staff.contact["telegram"]` = chat id); Redis only keeps a chat → staff id pointer to find
the account quickly, and every action re-checks the database (active, still linked).
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.models import Staff
from intake.redis.keys import Keys

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CONTACT_KEY = "telegram"  # notifier.routing.staff_routes reads Staff.contact[<channel>]


class LinkStore:
    def __init__(self, redis: aioredis.Redis, *, keys: Keys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self.ttl_s = ttl_s

    async def issue(self, staff_id: int) -> str:
        """A fresh code for this staff member (a collision just draws again)."""
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            key = self._keys.telegram_link_code(code)
            if await self._redis.set(key, str(staff_id), nx=True, ex=self.ttl_s):
                return code

    async def consume(self, code: str) -> int | None:
        """The staff id a code was issued to, once; None when unknown, used or expired."""
        value = await self._redis.getdel(self._keys.telegram_link_code(code.strip().upper()))
        return int(value) if value else None

    async def remember(self, chat_id: int, staff_id: int) -> None:
        await self._redis.set(self._keys.telegram_staff_chat(chat_id), str(staff_id))

    async def staff_id_of(self, chat_id: int) -> int | None:
        value = await self._redis.get(self._keys.telegram_staff_chat(chat_id))
        return int(value) if value else None


def link_contact(staff: Staff, chat_id: int) -> None:
    """Put the chat id where the notifier looks, first in the staff member's preferences."""
    contact = dict(staff.contact or {})
    contact[CONTACT_KEY] = str(chat_id)
    prefer = contact.get("prefer")
    if isinstance(prefer, list):
        contact["prefer"] = [CONTACT_KEY, *(p for p in prefer if p != CONTACT_KEY)]
    staff.contact = contact  # a new dict: the JSON column sees the change


def is_linked(staff: Staff | None, chat_id: int) -> bool:
    """Only an active account whose contact still names this chat may act from it."""
    if staff is None or not staff.active:
        return False
    return str((staff.contact or {}).get(CONTACT_KEY) or "") == str(chat_id)


async def linked_staff(session: AsyncSession, store: LinkStore, chat_id: int) -> Staff | None:
    staff_id = await store.staff_id_of(chat_id)
    staff = await session.get(Staff, staff_id) if staff_id else None
    return staff if is_linked(staff, chat_id) else None
