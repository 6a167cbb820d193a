"""`POST /api/v1/staff/me/telegram-link`: a one-time code a staff member sends as /link CODE.

The staff API's bearer token proves who asks; the code then proves in the chat that the chat
belongs to that person. Mounted by the Telegram connector, so it exists only when the bot does.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from channels.telegram.linking import LinkStore
from intake.api.deps import StaffDep


class LinkCode(BaseModel):
    code: str
    command: str
    expires_in: int


def link_router(links: LinkStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1/staff/me", tags=["staff"])

    @router.post(
        "/telegram-link",
        response_model=LinkCode,
        summary="A one-time code to link your Telegram chat (send /link CODE to the bot)",
    )
    async def issue(staff: StaffDep) -> LinkCode:
        code = await links.issue(staff.id)
        return LinkCode(code=code, command=f"/link {code}", expires_in=links.ttl_s)

    return router
