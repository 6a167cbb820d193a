"""Send notifier mail over SMTP (aiosmtplib) and translate SMTP failures into our error tree.

The notifier retries `TransientSendError`, records `PermanentSendError` on the ticket and falls
back to another channel on `UnreachableError`. So: connection failures, timeouts and every 4xx
are transient; a 5xx for the recipient is permanent, and "no such user" (550/551/553, 5.1.x) is
unreachable. A 5xx that is *our* fault (authentication, sender refused, no STARTTLS) is treated
as transient: the operator fixes the configuration and the queued mail still goes out.
Automatic answers over the per-address cap (cap.py) are not sent: `SendSkipped`.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass, field
from email.errors import MessageError
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

from channels.base import OutboundMessage, SendResult
from channels.email.cap import AutoReplyCap
from channels.email.compose import compose_mail, threading_params
from channels.email.ids import strip_message_id
from intake.domain.errors import (
    PermanentSendError,
    SendError,
    SendSkipped,
    TransientSendError,
    UnreachableError,
)
from intake.domain.messages import IdentityKind

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]
_NO_SUCH_USER = re.compile(
    r"\b5\.1\.(?:1|2|3|6|10)\b|no such (?:user|mailbox|recipient)|user unknown|unknown user|"
    r"does not exist|not found|invalid recipient|mailbox unavailable|用户不存在|收件人不存在",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and as whom to send; `domain` is used for our Message-IDs and EHLO.

    `envelope_from` may contain `{ticket}` for VERP-style bounce addresses
    (e.g. "bounces+{ticket}@city.example.test"); it defaults to `from_address`.
    """

    host: str
    port: int
    from_address: str
    domain: str
    security: Security = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    from_name: str | None = None
    envelope_from: str | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)


class SmtpSender:
    """The e-mail `Sender` of channels/base.py: one SMTP session per delivery."""

    channel = "email"

    def __init__(self, settings: SmtpSettings, *, cap: AutoReplyCap | None = None) -> None:
        self.settings = settings
        self.cap = cap

    async def send(self, message: OutboundMessage) -> SendResult:
        """Compose and deliver; returns the Message-ID (without brackets) as provider id."""
        address = message.recipient.value.strip()
        if message.recipient.kind is not IdentityKind.EMAIL or "@" not in address:
            raise UnreachableError("recipient has no e-mail address")
        mail = self.compose(message)
        message_id = strip_message_id(str(mail["Message-ID"]))
        counted = await self._count(message, address)
        try:
            response = await self._deliver(mail, self._envelope_from(message), address)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if self.cap is not None:
                await self.cap.give_back(counted)
            error = classify_smtp_error(exc)
            log.warning(
                "mail %s for ticket %s failed: %s", message_id, message.ticket_number, error
            )
            raise error from exc
        log.info("mail %s for ticket %s accepted", message_id, message.ticket_number)
        return SendResult(provider_id=message_id, detail=response)

    async def _count(self, message: OutboundMessage, address: str) -> list[str]:
        """Take a place under the cap for an automatic answer, or raise `SendSkipped`."""
        if self.cap is None or not self.cap.applies(message):
            return []
        try:
            return await self.cap.take(address)
        except SendSkipped:
            log.warning(
                "mail %s for ticket %s not sent: over the per-address cap",
                message.job_key,
                message.ticket_number,
            )
            raise

    def compose(self, message: OutboundMessage) -> EmailMessage:
        """The mail `send` would deliver (threading and Auto-Submitted from `message.params`)."""
        in_reply_to, references, auto_submitted = threading_params(message)
        try:
            return compose_mail(
                message,
                from_address=self.settings.from_address,
                from_name=self.settings.from_name,
                domain=self.settings.domain,
                in_reply_to=in_reply_to,
                references=references,
                auto_submitted=auto_submitted,
            )
        except (ValueError, MessageError, IndexError) as exc:
            raise UnreachableError(f"cannot address mail: {type(exc).__name__}") from exc

    def _envelope_from(self, message: OutboundMessage) -> str:
        template = self.settings.envelope_from
        if not template:
            return self.settings.from_address
        return template.replace("{ticket}", message.ticket_number or "0")

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            timeout=s.timeout,
            validate_certs=s.validate_certs,
            tls_context=s.tls_context,
            local_hostname=s.domain,
        )

    async def _deliver(self, mail: EmailMessage, sender: str, recipient: str) -> str:
        async with self._client() as smtp:
            if self.settings.user:
                await smtp.login(self.settings.user, self.settings.password or "")
            _, response = await smtp.send_message(mail, sender=sender, recipients=[recipient])
        return response


def classify_smtp_error(exc: BaseException) -> SendError:
    """Map an aiosmtplib/socket failure to Transient, Permanent or Unreachable (module doc)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if not isinstance(exc, aiosmtplib.SMTPResponseException):
        return TransientSendError(f"smtp connection problem: {type(exc).__name__}: {exc}")
    text = f"{exc.code} {' '.join(str(exc.message).split())}"
    if exc.code < 500:
        return TransientSendError(f"smtp temporary failure: {text}")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        if exc.code in (550, 551, 553) and _NO_SUCH_USER.search(str(exc.message)):
            return UnreachableError(f"recipient does not exist: {text}")
        return PermanentSendError(f"recipient refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return PermanentSendError(f"message refused: {text}")
    return TransientSendError(f"smtp configuration problem: {type(exc).__name__}: {text}")
