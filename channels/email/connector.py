"""The e-mail channel inside the service: the mailbox reader and the SMTP sender.

There is no HTTP route: mail arrives over IMAP, read by a background task that runs in
`intake run` and in `intake worker --only email`.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import APIRouter

from channels.base import BackgroundTask, Sender
from channels.email.cap import AutoReplyCap
from channels.email.reader import MailboxReader
from channels.email.sender import SmtpSender
from channels.email.settings import EmailSettings
from intake.domain.clock import Clock
from intake.ingest.attachments import AttachmentStore
from intake.interfaces import IntakeGateway
from intake.redis.keys import Keys


@dataclass(frozen=True, slots=True)
class EmailParts:
    """What the e-mail channel uses of the core, handed over by the composition root."""

    gateway: IntakeGateway
    redis: aioredis.Redis
    keys: Keys
    clock: Clock
    attachments: AttachmentStore


class EmailConnector:
    name = "email"

    def __init__(self, parts: EmailParts, settings: EmailSettings) -> None:
        self.settings = settings
        smtp = settings.smtp()
        self._sender = SmtpSender(smtp, cap=self._cap(parts, settings)) if smtp else None
        self.reader = (
            MailboxReader(
                settings,
                gateway=parts.gateway,
                redis=parts.redis,
                keys=parts.keys,
                clock=parts.clock,
                attachments=parts.attachments,
            )
            if settings.imap_host
            else None
        )

    @staticmethod
    def _cap(parts: EmailParts, settings: EmailSettings) -> AutoReplyCap:
        return AutoReplyCap(
            parts.redis,
            keys=parts.keys,
            clock=parts.clock,
            per_hour=settings.auto_reply_cap_per_hour,
            per_day=settings.auto_reply_cap_per_day,
        )

    def router(self) -> APIRouter | None:
        return None

    def sender(self) -> Sender | None:
        return self._sender

    def background_tasks(self) -> list[BackgroundTask]:
        return [self.reader.run] if self.reader else []


def build(parts: EmailParts, settings: EmailSettings) -> EmailConnector:
    """The connector of the `INTAKE_EMAIL__*` section, validated at start-up."""
    return EmailConnector(parts, settings)
