"""The guided conversation's state in Redis: one durable draft per citizen, and its deadline.

A draft holds everything the citizen has said so far. It has no expiry of its own (an expiring
key would take the citizen's words with it); instead its deadline sits in a sorted set that a
background sweep reads to file overdue drafts, and the next message files an overdue draft as
well. Each handled message leaves a step record (the answer it got) written in the same MULTI
as the draft, so that WeChat's retries of one MsgId read the same answer and change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import LockError

from intake.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)

STEP_TTL_S = 86_400

# one command instead of MULTI/GET/EXISTS/EXEC: a script reads both at one instant too
_PEEK = """
return {redis.call('GET', KEYS[1]), redis.call('EXISTS', KEYS[2])}
"""
_SEP = "\t"


@dataclass
class Part:
    """One message of the conversation, kept whole (its raw XML included)."""

    id: str
    kind: str
    text: str
    at: str  # ISO time received
    attachments: list[dict[str, Any]] = field(default_factory=list)
    raw: str | None = None


@dataclass
class Draft:
    id: str  # external id of the message (or menu click) that started it
    account: str
    openid: str
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

    def satisfied(self, need: str) -> bool:
        if need == "text":
            return any(p.text.strip() for p in self.parts if p.kind != "location")
        if need == "place":
            return bool(self.location or self.place or self.place_named)
        return bool(self.phone)

    def missing(self, max_asks: int) -> list[str]:
        """What is still needed and has not been asked too often already."""
        return [n for n in self.needs if not self.satisfied(n) and self.asks.get(n, 0) < max_asks]

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Draft:
        data = orjson.loads(raw)
        data["parts"] = [Part(**p) for p in data.get("parts") or ()]
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Step:
    """The answer one message got: a text, or the ticket the conversation was filed as."""

    text: str | None = None
    filed: str | None = None  # external id of the filed message
    number: str | None = None
    query_code: str | None = None
    emergency: dict[str, str] | None = None  # the filed message's advice (its receipt's)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Step:
        return cls(**orjson.loads(raw))


class DialogStore:
    def __init__(self, redis: Redis, *, key_prefix: str, lock_ttl: float = 10.0) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}wechat:dialog:"
        self._deadlines = f"{self._prefix}deadlines"
        self._lock_ttl = lock_ttl
        self._peek = redis.register_script(_PEEK)

    def _draft_key(self, account: str, openid: str) -> str:
        return f"{self._prefix}draft:{account}:{openid}"

    def _step_key(self, account: str, message_id: str) -> str:
        return f"{self._prefix}step:{account}:{message_id}"

    def guard_keys(self, account: str, openid: str, message_id: str) -> list[str]:
        """What `peek` reads, as keys whose existence means the conversation is involved."""
        return [self._step_key(account, message_id), self._draft_key(account, openid)]

    async def peek(self, account: str, openid: str, message_id: str) -> tuple[Step | None, bool]:
        """This message's recorded step, and whether a draft exists, read at one instant."""
        step, exists = await self._peek(
            keys=[self._step_key(account, message_id), self._draft_key(account, openid)]
        )
        return (Step.from_json(step) if step else None), bool(exists)

    async def step(self, account: str, message_id: str) -> Step | None:
        raw = await self._redis.get(self._step_key(account, message_id))
        return Step.from_json(raw) if raw else None

    async def load(self, account: str, openid: str) -> Draft | None:
        raw = await self._redis.get(self._draft_key(account, openid))
        return Draft.from_json(raw) if raw else None

    async def commit(
        self,
        *,
        account: str,
        openid: str,
        draft: Draft | None,
        message_id: str | None = None,
        step: Step | None = None,
    ) -> None:
        """Save (or, with None, delete) the draft and record the message's answer, atomically."""
        key, member = self._draft_key(account, openid), _member(account, openid)
        async with self._redis.pipeline(transaction=True) as pipe:
            if draft is None:
                pipe.delete(key)
                pipe.zrem(self._deadlines, member)
            else:
                pipe.set(key, draft.to_json())
                pipe.zadd(self._deadlines, {member: draft.deadline})
            if message_id is not None and step is not None:
                pipe.set(self._step_key(account, message_id), step.to_json(), ex=STEP_TTL_S)
            await pipe.execute()

    async def due(self, now: float, *, limit: int = 100) -> list[tuple[str, str]]:
        """(account, openid) of drafts whose deadline has passed."""
        members = await self._redis.zrangebyscore(self._deadlines, "-inf", now, 0, limit)
        return [_split(m) for m in members]

    async def forget_deadline(self, account: str, openid: str) -> None:
        await self._redis.zrem(self._deadlines, _member(account, openid))

    @asynccontextmanager
    async def locked(self, account: str, openid: str, *, wait: float) -> AsyncIterator[bool]:
        """One step at a time per citizen, across processes; yields False when not obtained."""
        lock = self._redis.lock(
            f"{self._prefix}lock:{account}:{openid}",
            timeout=self._lock_ttl,
            sleep=0.01,
            blocking_timeout=wait,
            thread_local=False,
        )
        acquired = await lock.acquire()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                with suppress(LockError):
                    await lock.release()


def _member(account: str, openid: str) -> str:
    return f"{account}{_SEP}{openid}"


def _split(member: bytes | str) -> tuple[str, str]:
    text = member.decode() if isinstance(member, bytes) else member
    account, _, openid = text.partition(_SEP)
    return account, openid


def part_of(message: InboundMessage) -> Part:
    raw = message.raw if isinstance(message.raw, str) else None
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
    if draft.phone:
        fields["contact_phone"] = draft.phone
    first = draft.parts[0].at if draft.parts else draft.started_at
    return InboundMessage(
        channel="wechat",
        external_id=f"dialog:{draft.id}",
        sender=SenderIdentity(IdentityKind.WECHAT, draft.openid, account=draft.account),
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
