"""Telegram messages as the core's `InboundMessage`: pure functions, nothing dropped.

The citizen's identity is the private chat's id (equal to their user id there), which is also
where the notifier sends to. `external_id` is the update id, the key Telegram itself repeats on
a retry, so the gateway's (channel, external_id) dedupe catches any duplicate that got past the
bot's own update gate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram.types import Message, Update

from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)

CHANNEL = "telegram"


def identity(message: Message) -> SenderIdentity:
    user = message.from_user
    return SenderIdentity(
        kind=IdentityKind.TELEGRAM,
        value=str(message.chat.id),
        display_name=user.full_name if user else None,
    )


def location_of(message: Message) -> Location | None:
    if message.venue:
        v = message.venue
        label = f"{v.title} {v.address}".strip()
        return Location(v.location.latitude, v.location.longitude, label or None)
    if message.location:
        return Location(message.location.latitude, message.location.longitude)
    return None


def kind_of(message: Message, attachment_kind: MessageKind | None) -> MessageKind:
    if attachment_kind is not None:
        return attachment_kind
    if message.text:
        return MessageKind.TEXT
    if message.location or message.venue:
        return MessageKind.LOCATION
    return MessageKind.UNKNOWN


def raw_of(update: Update) -> dict[str, Any]:
    return update.model_dump(mode="json", exclude_none=True)


def plain(
    message: Message,
    update: Update,
    *,
    received_at: datetime,
    attachments: tuple[Attachment, ...] = (),
    attachment_kind: MessageKind | None = None,
    text: str | None = None,
) -> InboundMessage:
    """A message sent outside the guided flow, as it is (`text` overrides for commands)."""
    return InboundMessage(
        channel=CHANNEL,
        external_id=str(update.update_id),
        sender=identity(message),
        kind=MessageKind.TEXT if text is not None else kind_of(message, attachment_kind),
        received_at=received_at,
        text=text if text is not None else (message.text or message.caption or ""),
        attachments=attachments,
        location=location_of(message),
        raw=raw_of(update),
    )
