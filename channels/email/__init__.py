"""The e-mail channel's pure parts: parsing inbound mail, loop guards, composing and sending.

The IMAP reader and the pipeline wiring live elsewhere; they call `parse_mail` on each fetched
mail and use `SmtpSender` for the notifier.
"""

from channels.email.attachments import AttachmentPart
from channels.email.compose import compose_mail, subject_with_ticket
from channels.email.guards import (
    NOTIFICATION_HEADER,
    BounceInfo,
    Classification,
    FailedRecipient,
    MailClass,
    classify,
)
from channels.email.ids import (
    make_message_id,
    ticket_from_message_id,
    ticket_from_subject,
)
from channels.email.parse import DEFAULT_MAX_ATTACHMENT_BYTES, ParsedMail, parse_mail
from channels.email.sender import SmtpSender, SmtpSettings, classify_smtp_error

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "NOTIFICATION_HEADER",
    "AttachmentPart",
    "BounceInfo",
    "Classification",
    "FailedRecipient",
    "MailClass",
    "ParsedMail",
    "SmtpSender",
    "SmtpSettings",
    "classify",
    "classify_smtp_error",
    "compose_mail",
    "make_message_id",
    "parse_mail",
    "subject_with_ticket",
    "ticket_from_message_id",
    "ticket_from_subject",
]
