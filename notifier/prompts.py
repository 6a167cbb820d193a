"""Prompts as data: created once per job key, with a short code and an expiry."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from intake.domain.models import Ticket
from intake.storage.database import Database
from notifier.config import NotifySettings
from notifier.facts import TicketFacts
from notifier.models import Prompt, PromptKind, PromptStatus

CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: read aloud and typed without doubt
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))


async def ensure_prompt(
    db: Database,
    *,
    job_key: str,
    ticket: Ticket | TicketFacts,
    kind: PromptKind,
    channel: str | None,
    cfg: NotifySettings,
    now: datetime,
) -> Prompt:
    """The prompt of this job: created by the first run, found again by a re-run."""
    for _ in range(5):
        try:
            async with db.write() as session, session.begin():
                found = await session.scalar(select(Prompt).where(Prompt.job_key == job_key))
                if found is not None:
                    return found
                prompt = Prompt(
                    ticket_id=ticket.id,
                    citizen_id=ticket.citizen_id,
                    kind=kind.value,
                    code=new_code(),
                    job_key=job_key,
                    channel=channel,
                    status=PromptStatus.PENDING.value,
                    reminder_sent=False,
                    expires_at=now + cfg.rating_expiry,
                    created_at=now,
                )
                session.add(prompt)
            return prompt
        except IntegrityError:  # a code collision, or a concurrent run: look again
            continue
    raise RuntimeError("could not allocate a prompt code")


async def load_prompt(db: Database, prompt_id: int) -> Prompt | None:
    async with db.read() as session:
        return await session.get(Prompt, prompt_id)
