"""The one normalized form every channel turns its input into.

Connectors build an `InboundMessage` with a pure function; the core never sees channel
payloads. The raw payload is kept so that nothing a citizen sent is ever lost, and
`(channel, external_id)` is the idempotency key used for delivery dedupe.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from intake.domain.text_hygiene import all_clean, clean_data, clean_text


class MessageKind(StrEnum):
    """What the citizen sent, as far as the edge can tell without business logic."""

    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    LOCATION = "location"
    LINK = "link"
    FILE = "file"
    FORM = "form"  # a structured request from the web form or the API
    EVENT = "event"  # subscribe, menu click, delivery report ...
    UNKNOWN = "unknown"  # kept, never dropped


class IdentityKind(StrEnum):
    PHONE = "phone"
    WECHAT = "wechat"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WECOM = "wecom"  # a staff member's WeCom (企业微信) user id, for alerts
    WEB = "web"  # an anonymous web visitor without a phone (kept for completeness)


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    """Who sent it, in the channel's own terms (E.164 phone, openid, address, chat id).

    `account` tells apart several accounts of one channel (a city's and a district's WeChat
    official accounts); the account is part of the identity.
    """

    kind: IdentityKind
    value: str
    account: str = ""
    display_name: str | None = None

    def __post_init__(self) -> None:
        if not all_clean(self.value, self.account, self.display_name):
            _clean(self, "value", "account", "display_name")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the citizen sent: stored by the edge (`storage_key`) or only referenced (`url`)."""

    filename: str
    content_type: str
    size: int = 0
    sha256: str | None = None
    storage_key: str | None = None
    url: str | None = None
    media_id: str | None = None

    def __post_init__(self) -> None:
        if not all_clean(self.filename, self.content_type, self.url, self.media_id):
            _clean(self, "filename", "content_type", "sha256", "storage_key", "url", "media_id")


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None  # an address or place name, typed or given by the channel

    def __post_init__(self) -> None:
        if self.label is not None:
            _clean(self, "label")


# set by a channel that checked the contact phone is the sender's (Telegram's own contact)
VOUCHED_PHONE = "contact_phone_vouched"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    channel: str
    external_id: str
    sender: SenderIdentity
    kind: MessageKind
    received_at: datetime
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    thread_ref: str | None = None  # what this replies to (ticket number, Message-ID)
    raw: bytes | str | dict[str, Any] | None = None
    # structured fields a channel already knows (web form: request type, contact phone, name ...)
    fields: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Made storable as it is built, whatever channel builds it
        (`intake.domain.text_hygiene`)."""
        raw = self.raw if isinstance(self.raw, str | dict) else None  # bytes are kept as sent
        if all_clean(self.external_id, self.text, self.thread_ref, raw, self.fields):
            return
        _clean(self, "external_id", "text", "thread_ref")
        if raw is not None:
            _set(self, "raw", clean_data(raw))
        _set(self, "fields", clean_data(self.fields))

    @property
    def idempotency_key(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @property
    def vouched_phone(self) -> str | None:
        """The contact phone, when the channel vouches that it is the sender's own.

        Only such a phone may join this sender to the citizen behind the number: a number
        merely typed in (a WeChat conversation, a form) could be anyone's, and joining on it
        would show that person's tickets and send their replies to whoever typed it.
        """
        phone = self.fields.get("contact_phone")
        return phone if phone and self.fields.get(VOUCHED_PHONE) is True else None

    def to_dict(self) -> dict[str, Any]:
        """Built by hand: `asdict` deep-copies the raw payload (a whole e-mail) every time."""
        sender = self.sender
        raw = self.raw
        if isinstance(raw, bytes):
            raw = {"__bytes__": base64.b64encode(raw).decode("ascii")}
        return {
            "channel": self.channel,
            "external_id": self.external_id,
            "sender": {
                "kind": sender.kind.value,
                "value": sender.value,
                "account": sender.account,
                "display_name": sender.display_name,
            },
            "kind": self.kind.value,
            "received_at": self.received_at.isoformat(),
            "text": self.text,
            "attachments": [asdict(a) for a in self.attachments],
            "location": asdict(self.location) if self.location else None,
            "thread_ref": self.thread_ref,
            "raw": raw,
            "fields": dict(self.fields),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundMessage:
        raw = data.get("raw")
        if isinstance(raw, dict) and set(raw) == {"__bytes__"}:
            raw = base64.b64decode(raw["__bytes__"])
        sender = data["sender"]
        location = data.get("location")
        return cls(
            channel=data["channel"],
            external_id=data["external_id"],
            sender=SenderIdentity(
                kind=IdentityKind(sender["kind"]),
                value=sender["value"],
                account=sender.get("account") or "",
                display_name=sender.get("display_name"),
            ),
            kind=MessageKind(data["kind"]),
            received_at=datetime.fromisoformat(data["received_at"]),
            text=data.get("text") or "",
            attachments=tuple(Attachment(**a) for a in data.get("attachments") or ()),
            location=Location(**location) if location else None,
            thread_ref=data.get("thread_ref"),
            raw=raw,
            fields=dict(data.get("fields") or {}),
        )


def _set(instance: object, name: str, value: Any) -> None:
    if value is not getattr(instance, name):  # frozen: set only what cleaning changed
        object.__setattr__(instance, name, value)


def _clean(instance: object, *names: str) -> None:
    for name in names:
        value = getattr(instance, name)
        if isinstance(value, str):
            _set(instance, name, clean_text(value))
