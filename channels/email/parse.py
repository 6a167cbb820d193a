"""Parse one raw mail into the normalized `InboundMessage`, purely and totally.

The IMAP reader hands every fetched mail to `parse_mail`; whatever arrives (any charset, broken
MIME, random bytes) comes back as a `ParsedMail` and never as an exception, because a mail the
service cannot read must still be kept (kind UNKNOWN, raw bytes intact) rather than lost or
retried forever. Threading facts (our ticket in In-Reply-To/References, the `[NUMBER]` subject
tag) and the loop-guard classification are computed here so the core only decides.
"""

from __future__ import annotations

import email
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from channels.email.attachments import AttachmentPart, collect_body
from channels.email.guards import BounceInfo, Classification, MailClass, classify, header
from channels.email.ids import (
    parse_id_list,
    strip_message_id,
    ticket_from_references,
    ticket_from_subject,
)
from channels.email.text import (
    decode_header_bytes,
    decode_words,
    header_bytes,
    header_text,
    header_values,
)
from channels.email.titles import title_of_subject
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity

log = logging.getLogger(__name__)

CHANNEL = "email"
DEFAULT_MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
_NORMAL = Classification(MailClass.NORMAL)


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """The normalized message plus the mail facts the core needs for threading and guards.

    `attachments[i].data` holds the bytes of `message.attachments[i]` for the caller to store
    (None when the attachment was over the limit and not loaded).
    """

    message: InboundMessage
    subject: str = ""
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject_ticket: str | None = None
    header_ticket: str | None = None
    classification: Classification = _NORMAL
    attachments: tuple[AttachmentPart, ...] = ()
    full_text: str = ""
    notes: tuple[str, ...] = ()

    @property
    def ticket_number(self) -> str | None:
        """Our Message-ID in the thread wins over a subject tag (which anyone can type)."""
        return self.header_ticket or self.subject_ticket

    @property
    def bounce(self) -> BounceInfo | None:
        return self.classification.bounce


def parse_mail(
    raw: bytes,
    *,
    mailbox_address: str,
    received_at: datetime | None = None,
    domain: str | None = None,
    own_addresses: frozenset[str] = frozenset(),
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> ParsedMail:
    """Parse `raw` as received at `mailbox_address`; never raises.

    `domain` is the domain of our Message-IDs (default: the mailbox's domain); `own_addresses`
    are our sending addresses, whose mail coming back is classified as our own.
    """
    domain = (domain or mailbox_address.rpartition("@")[2]).lower()
    own = frozenset({mailbox_address.lower(), *(a.lower() for a in own_addresses)})
    try:
        msg = email.message_from_bytes(raw if isinstance(raw, bytes) else bytes(raw))
        return _parse(msg, raw, mailbox_address, received_at, domain, own, max_attachment_bytes)
    except Exception as exc:  # totality: keep what cannot be read
        log.warning("unparseable mail kept as unknown: %s", type(exc).__name__, exc_info=True)
        return _unknown(raw, mailbox_address, received_at, f"parse error: {type(exc).__name__}")


def _parse(
    msg: Message,
    raw: bytes,
    mailbox: str,
    received_at: datetime | None,
    domain: str,
    own: frozenset[str],
    limit: int,
) -> ParsedMail:
    sender = _sender(msg, mailbox)
    if sender is None:
        return _unknown(raw, mailbox, received_at, "no sender address")
    subject = header(msg, "Subject")
    message_id = strip_message_id(header(msg, "Message-ID")) or None
    in_reply_to = next(iter(parse_id_list(header(msg, "In-Reply-To"))), None)
    references = parse_id_list(header(msg, "References"))
    thread_ids = [*references, *([in_reply_to] if in_reply_to else [])]
    header_ticket = ticket_from_references(thread_ids, domain)
    subject_ticket = ticket_from_subject(subject)
    verdict = classify(msg, domain=domain, own_addresses=own)
    body = collect_body(msg, max_attachment_bytes=limit, subject=subject)
    notes = (*body.notes, *_defects(msg))
    bounce_ticket = verdict.bounce.ticket_number if verdict.bounce else None
    thread_ref = header_ticket or subject_ticket or bounce_ticket or in_reply_to
    fields: dict[str, Any] = {
        "subject": subject,
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        "header_ticket": header_ticket,
        "subject_ticket": subject_ticket,
        "ticket_source": _ticket_source(header_ticket, subject_ticket),
        "classification": verdict.kind.value,
        "classification_reason": verdict.reason,
        "bounce": verdict.bounce.to_dict() if verdict.bounce else None,
        "reply_to": _addresses(msg, "Reply-To"),
        "to": _addresses(msg, "To"),
        "cc": _addresses(msg, "Cc"),
        "notes": list(notes),
        "quote": body.quote,
    }
    title = title_of_subject(subject)
    if title:
        fields["title"] = title
    if body.forwarded is not None:
        fields["forwarded"] = body.forwarded.to_dict()
    message = InboundMessage(
        channel=CHANNEL,
        external_id=message_id or _digest_id(raw),
        sender=sender,
        kind=_kind(verdict, body.text, body.parts),
        received_at=received_at or _date(msg),
        text=body.text or subject,
        attachments=tuple(p.attachment for p in body.parts),
        thread_ref=thread_ref,
        raw=raw,
        fields=fields,
    )
    return ParsedMail(
        message=message,
        subject=subject,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=tuple(references),
        subject_ticket=subject_ticket,
        header_ticket=header_ticket,
        classification=verdict,
        attachments=body.parts,
        full_text=body.full_text,
        notes=notes,
    )


def _unknown(raw: Any, mailbox: str, received_at: datetime | None, note: str) -> ParsedMail:
    """A mail we cannot read: kept whole, as UNKNOWN, for the dead-letter or a human."""
    data = raw if isinstance(raw, bytes) else repr(raw).encode("utf-8", "replace")
    message = InboundMessage(
        channel=CHANNEL,
        external_id=_digest_id(data),
        sender=SenderIdentity(kind=IdentityKind.EMAIL, value="", account=mailbox),
        kind=MessageKind.UNKNOWN,
        received_at=received_at or datetime.now(UTC),
        raw=data,
        fields={"notes": [note], "classification": MailClass.NORMAL.value},
    )
    return ParsedMail(message=message, notes=(note,))


def _digest_id(raw: bytes) -> str:
    """A stable id for a mail without Message-ID: the same bytes dedupe to the same id."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _sender(msg: Message, mailbox: str) -> SenderIdentity | None:
    """The citizen: From, else Sender, else the return path; None when there is no address.

    The address is parsed from the raw bytes (read as latin-1, so every byte stays one
    character) before anything is decoded: a badly encoded display name may come out
    garbled, but it can never take the address with it.
    """
    for name in ("From", "Sender", "Return-Path"):
        for value in header_bytes(msg, name):
            for display, address in getaddresses([value.decode("latin-1")]):
                if "@" in address:
                    return SenderIdentity(
                        kind=IdentityKind.EMAIL,
                        value=_latin1_text(address).strip().lower(),
                        account=mailbox,
                        display_name=decode_words(_latin1_text(display)) or None,
                    )
    return None


def _latin1_text(value: str) -> str:
    """Text parsed from latin-1-read bytes, decoded for real (header rules, never UTF-16)."""
    data = value.encode("latin-1", errors="replace")
    return value if data.isascii() else decode_header_bytes(data)


def _addresses(msg: Message, name: str) -> list[str]:
    values = header_values(msg, name)
    return [a.strip().lower() for _, a in getaddresses(values) if "@" in a]


def _date(msg: Message) -> datetime:
    """The Date header as an aware datetime, else now (the reader normally passes its own)."""
    try:
        value = parsedate_to_datetime(header_text(msg, "Date") or "")
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ticket_source(header_ticket: str | None, subject_ticket: str | None) -> str | None:
    if header_ticket:
        return "message_id"
    return "subject" if subject_ticket else None


def _kind(verdict: Classification, text: str, parts: tuple[AttachmentPart, ...]) -> MessageKind:
    """EVENT for delivery reports and our own mail; otherwise by content."""
    if verdict.kind in (MailClass.BOUNCE, MailClass.OWN):
        return MessageKind.EVENT
    if text or not parts:
        return MessageKind.TEXT
    types = {p.attachment.content_type.split("/", 1)[0] for p in parts}
    return MessageKind.IMAGE if types == {"image"} else MessageKind.FILE


def _defects(msg: Message) -> list[str]:
    """MIME defects the parser repaired, so a human can tell why a mail looks odd."""
    found: dict[str, None] = {}
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            found.setdefault(f"defect: {type(defect).__name__}", None)
    return list(found)[:10]
