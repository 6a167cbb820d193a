"""The e-mail channel inside the service: the mailbox reader and the SMTP sender.

There is no HTTP route: mail arrives over IMAP, read by a background task that runs in
`intake run` and in `intake worker --only email`.
"""

from __future__ import annotations

from fastapi import APIRouter

from channels.base import BackgroundTask, Sender
from channels.email.cap import AutoReplyCap
from channels.email.reader import MailboxReader
from channels.email.sender import SmtpSender
from channels.email.settings import EmailSettings
from intake.runtime import Runtime


class EmailConnector:
    name = "email"

    def __init__(self, runtime: Runtime, settings: EmailSettings) -> None:
        self._runtime = runtime
        self.settings = settings
        smtp = settings.smtp()
        self._sender = SmtpSender(smtp, cap=self._cap(runtime, settings)) if smtp else None
        self.reader = MailboxReader(runtime, settings) if settings.imap_host else None

    @staticmethod
    def _cap(runtime: Runtime, settings: EmailSettings) -> AutoReplyCap:
        return AutoReplyCap(
            runtime.redis.client,
            prefix=runtime.redis.keys.prefix,
            clock=runtime.clock,
            per_hour=settings.auto_reply_cap_per_hour,
            per_day=settings.auto_reply_cap_per_day,
        )

    def router(self) -> APIRouter | None:
        return None

    def sender(self) -> Sender | None:
        return self._sender

    def background_tasks(self) -> list[BackgroundTask]:
        return [self.reader.run] if self.reader else []


def build(runtime: Runtime, settings: EmailSettings) -> EmailConnector:
    """The connector of the `INTAKE_EMAIL__*` section, validated at start-up."""
    return EmailConnector(runtime, settings)
