"""Walk a MIME tree: the readable body on one side, attachments (with their bytes) on the other.

multipart/alternative prefers text/plain unless it is empty (HTML-only senders often put an
empty or "view in browser" plain part first); HTML becomes text via `html_to_text`. Everything
that is not body text — files, inline photos, forwarded mails — is an attachment, so a photo
pasted inline into an HTML mail is not lost. Oversized attachments are recorded (name, type,
size, hash) with a note but their bytes are not handed on.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email.message import Message

from channels.email.reply import Forwarded, Reply, extract_reply, normalize_text
from channels.email.text import decode_bytes, decode_words, html_to_text, sniff_html_charset
from intake.domain.messages import Attachment

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class AttachmentPart:
    attachment: Attachment
    data: bytes | None  # None: over the size limit, not loaded
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Body:
    text: str = ""  # trimmed: what the sender wrote this time
    full_text: str = ""  # untrimmed readable text
    parts: tuple[AttachmentPart, ...] = ()
    notes: tuple[str, ...] = ()
    forwarded: Forwarded | None = None  # the forwarded mail's header, when this is a forward
    quote: str = "none"  # where a quote was removed: none | top | bottom | whole


_EMPTY = Reply("")


@dataclass
class _Walk:
    limit: int
    subject: str = ""
    leaves: list[Message] = field(default_factory=list)


def collect_body(msg: Message, *, max_attachment_bytes: int, subject: str = "") -> Body:
    """The body text (trimmed and full) and the attachments of a parsed mail; the subject
    tells a forward (`Fwd:`, `转发:`) from a reply where the quote header alone cannot."""
    walk = _Walk(limit=max_attachment_bytes, subject=subject)
    full, reply = _text_of(msg, walk)
    parts = tuple(_attachment(leaf, index, walk.limit) for index, leaf in enumerate(walk.leaves))
    notes = tuple(p.note for p in parts if p.note)
    text = normalize_text(reply.text)
    return Body(text, normalize_text(full), parts, notes, reply.forwarded, reply.quote)


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or _raw_filename(part) is not None


def _text_of(part: Message, walk: _Walk) -> tuple[str, Reply]:
    """(full text, reply) of `part`; non-text leaves are queued as attachments."""
    ctype = part.get_content_type()
    if part.get_content_maintype() == "message":  # forwarded mail, delivery status: a file
        walk.leaves.append(part)
        return "", _EMPTY
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            return _alternative(children, walk)
        if ctype == "multipart/report":  # the human-readable part; the rest is for guards
            return _text_of(children[0], walk) if children else ("", _EMPTY)
        pairs = [_text_of(child, walk) for child in children]
        return _join([p[0] for p in pairs]), _join_replies([p[1] for p in pairs])
    if _is_attachment(part) or part.get_content_maintype() != "text":
        walk.leaves.append(part)
        return "", _EMPTY
    if ctype == "text/html":
        return _html(part, walk.subject)
    if ctype in ("text/rfc822-headers", "text/calendar", "text/x-vcard", "text/vcard"):
        walk.leaves.append(part)
        return "", _EMPTY
    text = _decoded_text(part)
    return text, extract_reply(text, subject=walk.subject)


def _join_replies(replies: list[Reply]) -> Reply:
    """Several body parts (text between inline images): one reply."""
    forwarded = next((r.forwarded for r in replies if r.forwarded is not None), None)
    quote = next((r.quote for r in replies if r.quote != "none"), "none")
    return Reply(_join([r.text for r in replies]), quote=quote, forwarded=forwarded)


def _alternative(children: list[Message], walk: _Walk) -> tuple[str, Reply]:
    """Prefer a non-empty text/plain; otherwise the richest (last) non-empty alternative."""
    pairs = [(child.get_content_type(), _text_of(child, walk)) for child in children]
    for ctype, pair in pairs:
        if ctype == "text/plain" and pair[0].strip():
            return pair
    for _, pair in reversed(pairs):
        if pair[0].strip():
            return pair
    return "", _EMPTY


def _join(texts: list[str]) -> str:
    return "\n\n".join(t.strip() for t in texts if t.strip())


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding yields no bytes
        return b""
    return data if isinstance(data, bytes) else b""


def _decoded_text(part: Message) -> str:
    return decode_bytes(_payload(part), part.get_content_charset())


def _html(part: Message, subject: str) -> tuple[str, Reply]:
    """A forward is found in the whole text (Gmail puts it inside its quote element); a reply
    is trimmed in the tree first, where quote elements are certain, then as text."""
    data = _payload(part)
    html = decode_bytes(data, part.get_content_charset() or sniff_html_charset(data))
    full = html_to_text(html)
    whole = extract_reply(full, subject=subject)
    if whole.forwarded is not None:
        return full, whole
    trimmed = extract_reply(html_to_text(html, drop_quotes=True), subject=subject)
    text_found_quote = whole.quote in ("top", "bottom")
    if not trimmed.text or (text_found_quote and len(whole.text) <= len(trimmed.text)):
        return full, whole
    if trimmed.quote == "none" and len(trimmed.text) < len(whole.text):
        trimmed = Reply(trimmed.text, quote="top")  # the tree held the quote
    return full, trimmed


def _raw_filename(part: Message) -> str | tuple[str | None, str | None, str] | None:
    value = part.get_param("filename", header="content-disposition")
    if not value:
        value = part.get_param("name")
    return value or None  # type: ignore[return-value]


def filename_of(part: Message, index: int) -> str:
    """The decoded, path-free file name (RFC 2231, RFC 2047 and raw 8-bit names all occur)."""
    value = _raw_filename(part)
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded latin-1 text)
        charset, _, text = value
        name = decode_bytes(text.encode("latin-1", "replace"), charset)
    else:
        name = decode_words(value or "")
    name = _UNSAFE_NAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .\"'")
    if name:
        return name
    ctype = part.get_content_type()
    if ctype in ("message/rfc822", "message/global"):
        return f"message-{index + 1}.eml"
    return f"attachment-{index + 1}{mimetypes.guess_extension(ctype) or '.bin'}"


def _leaf_bytes(part: Message) -> bytes:
    """The decoded content of a leaf, or the whole embedded mail for message/rfc822."""
    if part.is_multipart() or part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else part
        try:
            return inner_msg.as_bytes()
        except Exception:
            return str(inner_msg).encode("utf-8", "replace")
    return _payload(part)


def _attachment(part: Message, index: int, limit: int) -> AttachmentPart:
    data = _leaf_bytes(part)
    record = Attachment(
        filename=filename_of(part, index),
        content_type=part.get_content_type(),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    if len(data) > limit:
        note = f"attachment {record.filename!r} ({len(data)} bytes) over the {limit}-byte limit"
        return AttachmentPart(record, None, note + "; not loaded")
    return AttachmentPart(record, data)
