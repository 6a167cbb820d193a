"""Build the mails we send: acknowledgements, replies, surveys.

Every mail carries the ticket twice — in its Message-ID (`make_message_id`) and as `[NUMBER]` in
the subject — so the citizen's reply finds its ticket whichever one survives their client. Mail
we send on our own is marked `Auto-Submitted` (RFC 3834) and `X-Auto-Response-Suppress`, so
responders do not answer it, and `X-Intake-Notification`, so our guards recognise it if it ever
comes back into the mailbox. Text and HTML parts are both sent, in UTF-8.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from channels.base import OutboundMessage
from channels.email.guards import NOTIFICATION_HEADER
from channels.email.ids import make_message_id, parse_id_list, strip_message_id

DEFAULT_SUBJECT = "12345市民服务热线"
TICKET_HEADER = "X-Intake-Ticket"
# the notifier's answers to a citizen's own mail (acknowledgement, instant reply): RFC 3834
# auto-replies, and what the per-address cap (cap.py) counts
AUTO_REPLY_TEMPLATES = frozenset({"ack", "instant_reply"})


def subject_with_ticket(subject: str | None, ticket_number: str | None) -> str:
    """The subject on one line, with `[NUMBER]` appended unless it is already there."""
    text = " ".join((subject or DEFAULT_SUBJECT).split())
    if ticket_number and f"[{ticket_number}]" not in text:
        text = f"{text} [{ticket_number}]"
    return text


def text_to_html(text: str) -> str:
    """A minimal HTML rendering of a text-only message, so every mail has both parts."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def _bracketed(mid: str) -> str:
    return f"<{strip_message_id(mid)}>"


def compose_mail(
    message: OutboundMessage,
    *,
    from_address: str,
    domain: str,
    from_name: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str | None = "auto-replied",
    date: datetime | None = None,
) -> EmailMessage:
    """One outgoing mail to `message.recipient` (an e-mail identity).

    `in_reply_to`/`references` are the citizen's Message-ID and References, for threading
    (RFC 5322 §3.6.4); `auto_submitted` None or "no" leaves the RFC 3834 marks off (a mail a
    person wrote). Raises ValueError when the recipient address is not a valid address.
    """
    mail = EmailMessage()
    mail["From"] = Address(display_name=from_name or "", addr_spec=from_address)
    mail["To"] = Address(
        display_name=message.recipient.display_name or "", addr_spec=message.recipient.value
    )
    mail["Subject"] = subject_with_ticket(message.subject, message.ticket_number)
    mail["Date"] = format_datetime(date) if date else format_datetime(datetime.now().astimezone())
    mail["Message-ID"] = make_message_id(message.ticket_number, domain)
    if in_reply_to:
        mail["In-Reply-To"] = _bracketed(in_reply_to)
        chain = [*(strip_message_id(r) for r in references), strip_message_id(in_reply_to)]
        mail["References"] = " ".join(f"<{m}>" for m in dict.fromkeys(c for c in chain if c))
    if auto_submitted and auto_submitted.lower() != "no":
        mail["Auto-Submitted"] = auto_submitted
        mail["X-Auto-Response-Suppress"] = "All"
    mail[NOTIFICATION_HEADER] = message.job_key or "1"
    if message.ticket_number:
        mail[TICKET_HEADER] = message.ticket_number
    mail.set_content(message.text, charset="utf-8")
    mail.add_alternative(
        message.html or text_to_html(message.text), subtype="html", charset="utf-8"
    )
    for file in message.files:  # the text and HTML stay one alternative, the files beside it
        maintype, _, subtype = file.content_type.partition("/")
        mail.add_attachment(
            file.data, maintype=maintype, subtype=subtype or "octet-stream", filename=file.filename
        )
    return mail


def threading_params(message: OutboundMessage) -> tuple[str | None, list[str], str | None]:
    """(in_reply_to, references, auto_submitted) from `message.params`, as the notifier sets them.

    Params: `in_reply_to` (the citizen's Message-ID), `references` (list or header string),
    `auto_submitted` (default "auto-replied" for an `AUTO_REPLY_TEMPLATES` answer, or for an
    untemplated reply; "auto-generated" otherwise; "no" for a mail a person wrote).
    The notifier threads every mail of an e-mail ticket under the citizen's latest mail, so a
    templated notification (closure, survey) stays "auto-generated" although it is threaded.
    """
    params = message.params or {}
    in_reply_to = strip_message_id(str(params.get("in_reply_to") or "")) or None
    refs = params.get("references") or []
    references = parse_id_list(refs) if isinstance(refs, str) else [str(r) for r in refs]
    default = "auto-replied" if _answers_the_citizen(message, in_reply_to) else "auto-generated"
    auto = params.get("auto_submitted", default)
    return in_reply_to, references, (str(auto) if auto else None)


def _answers_the_citizen(message: OutboundMessage, in_reply_to: str | None) -> bool:
    """An automatic answer to the citizen's own mail (RFC 3834 "auto-replied")."""
    if message.template:
        return message.template in AUTO_REPLY_TEMPLATES
    return in_reply_to is not None
