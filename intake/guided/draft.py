"""A guided request in progress (the draft), the answer one message got (the step), and the one
message a finished draft is filed as.

A draft holds everything the citizen has said so far, each message kept whole (its raw form
included), so that the handler sees the conversation and not the bot's summary of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

from intake.domain.messages import (
    VOUCHED_PHONE,
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)


@dataclass
class Part:
    """One message of the conversation, kept whole (its raw form included)."""

    id: str
    kind: str
    text: str
    at: str  # ISO time received
    attachments: list[dict[str, Any]] = field(default_factory=list)
    raw: Any = None  # the channel's raw message: its XML text, or its JSON object


@dataclass
class Draft:
    id: str  # external id of the message (or menu click, or command) that started it
    account: str  # the channel's account it came in on ("" when the channel has one)
    openid: str  # the citizen's identity value on the channel
    rule: str
    needs: list[str]
    asking: str
    deadline: float  # epoch seconds
    started_at: str
    parts: list[Part] = field(default_factory=list)
    location: dict[str, Any] | None = None  # a location message: latitude, longitude, label
    place: str | None = None  # the typed answer to "where?"
    place_named: bool = False  # a part already names a place
    phone: str | None = None  # E.164: typed in the conversation, or given before
    asks: dict[str, int] = field(default_factory=dict)
    filing: str | None = None  # the message that is filing it (set just before submitting)
    channel: str = "wechat"
    identity: str = IdentityKind.WECHAT.value
    display_name: str | None = None
    request_type: str | None = None  # chosen in a form
    phone_vouched: bool = False  # the channel vouches the phone is the sender's own
    skipped: list[str] = field(default_factory=list)  # a form's steps the citizen skipped

    def satisfied(self, need: str) -> bool:
        if need in self.skipped:
            return True
        if need == "text":
            return any(p.text.strip() for p in self.parts if p.kind != "location")
        if need == "place":
            return bool(self.location or self.place or self.place_named)
        if need == "type":
            return self.request_type is not None
        return bool(self.phone)

    def missing(self, max_asks: int | None) -> list[str]:
        """What is still needed and has not been asked too often already (None: no limit)."""
        return [
            n
            for n in self.needs
            if not self.satisfied(n) and (max_asks is None or self.asks.get(n, 0) < max_asks)
        ]

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Draft:
        data = orjson.loads(raw)
        data["parts"] = [Part(**p) for p in data.get("parts") or ()]
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Step:
    """The answer one message got: the bot's words and which question is open, or the ticket
    the conversation was filed as. `notes` go before `text` (a channel that can send several
    messages sends them; an attachment's receipt, say)."""

    text: str | None = None
    filed: str | None = None  # external id of the filed message
    number: str | None = None
    query_code: str | None = None
    emergency: dict[str, str] | None = None  # the filed message's advice (its receipt's)
    asking: str | None = None  # the need the bot is asking for; None: the conversation ended
    notes: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Step:
        data = orjson.loads(raw)
        data["notes"] = tuple(data.get("notes") or ())
        return cls(**data)


def part_of(message: InboundMessage) -> Part:
    raw = message.raw if isinstance(message.raw, str | dict) else None
    return Part(
        id=message.external_id,
        kind=message.kind.value,
        text=message.text,
        at=message.received_at.isoformat(),
        attachments=[asdict(a) for a in message.attachments],
        raw=raw,
    )


def filed_message(draft: Draft, *, reason: str) -> InboundMessage:
    """The one message a conversation is filed as: every part's text, files and place.

    Its id derives from the draft's, so filing the same draft twice (a retry, two sweepers, a
    crash before the draft was deleted) is one ticket: the gateway dedupes on it.
    """
    texts = [p.text.strip() for p in draft.parts if p.text.strip()]
    fields: dict[str, Any] = {
        "msg_type": "dialog",
        "dialog": {"rule": draft.rule, "reason": reason, "parts": [p.id for p in draft.parts]},
    }
    if draft.request_type:
        fields["request_type"] = draft.request_type
    if draft.phone:
        fields["contact_phone"] = draft.phone
        if draft.phone_vouched:
            fields[VOUCHED_PHONE] = True
    first = draft.parts[0].at if draft.parts else draft.started_at
    return InboundMessage(
        channel=draft.channel,
        external_id=f"dialog:{draft.id}",
        sender=SenderIdentity(
            IdentityKind(draft.identity),
            draft.openid,
            account=draft.account,
            display_name=draft.display_name,
        ),
        kind=MessageKind.TEXT,
        received_at=datetime.fromisoformat(first),
        text="\n".join(texts),
        attachments=tuple(Attachment(**a) for p in draft.parts for a in p.attachments),
        location=_location(draft),
        raw={"dialog": [p.raw for p in draft.parts]},
        fields=fields,
    )


def has_content(draft: Draft) -> bool:
    return any(p.text.strip() or p.attachments for p in draft.parts) or bool(draft.location)


def _location(draft: Draft) -> Location | None:
    """The location sent, labelled with the typed address too when there is one."""
    sent = Location(**draft.location) if draft.location else None
    if not draft.place:
        return sent
    if sent is None:
        return Location(label=draft.place)
    label = f"{sent.label}（{draft.place}）" if sent.label else draft.place
    return Location(sent.latitude, sent.longitude, label)
