"""The small interfaces the core offers the edges and needs from them.

The core imports neither `channels` nor `notifier`: it names here what it hands out
(`Receipt`, `IntakeGateway`), what it sends through (`Sender`, `OutboundMessage`), how a
delivery report reads (`DeliveryState`), and what it needs of the notifier's prompts
(`PromptAnswers`). The composition root (`service/`) plugs the implementations in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.messages import InboundMessage, SenderIdentity
from intake.domain.models import Ticket, TicketEvent


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the core answers when it has made an inbound message durable.

    `number` and `query_code` are set when the message was submitted as a new ticket
    (the web form); `duplicate` is true when the same idempotency key was seen before,
    in which case the first receipt is returned unchanged. `emergency` is the advice for an
    emergency happening now, which the channel's first answer must carry.
    """

    entry_id: str
    duplicate: bool
    number: str | None = None
    query_code: str | None = None
    emergency: EmergencyAdvice | None = None


class IntakeGateway(Protocol):
    async def submit(self, message: InboundMessage, *, open_ticket: bool = False) -> Receipt: ...


@dataclass(frozen=True, slots=True)
class OutboundFile:
    """A file sent along with a message (a briefing's PDF); channels that cannot carry files
    leave it out."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One delivery to one recipient; `job_key` is deterministic so a re-send is recognisable."""

    recipient: SenderIdentity
    text: str
    job_key: str
    ticket_number: str | None = None
    subject: str | None = None
    html: str | None = None
    template: str | None = None  # template name, for providers that need approved templates
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[tuple[str, str], ...] = ()  # (label, callback data or URL)
    files: tuple[OutboundFile, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str | None = None
    detail: str | None = None


class Sender(Protocol):
    """Raises `TransientSendError`, `PermanentSendError` or `UnreachableError` on failure."""

    channel: str

    async def send(self, message: OutboundMessage) -> SendResult: ...


class DeliveryState(StrEnum):
    """Where a sent message stands according to the provider's delivery report."""

    DELIVERED = "delivered"  # on the handset
    FAILED = "failed"  # the network gave up
    BUFFERED = "buffered"  # still queued at the provider
    SUBMITTED = "submitted"  # accepted by the provider
    REJECTED = "rejected"  # refused by the provider


@dataclass
class AppliedAnswer:
    """A prompt's answer applied inside the pipeline's transaction."""

    events: list[TicketEvent]
    ticket: Ticket | None
    reply_text: str


@dataclass(frozen=True)
class AnswerOutcome:
    """A prompt's answer recorded on its own (a button pressed), with the reply to show."""

    status: str  # recorded | late | unmatched | unclear
    reply: str  # what to say to the citizen, in their language
    ticket_number: str | None = None
    prompt_id: int | None = None
    rating: str | None = None
    reopened: bool = False


class PromptAnswers(Protocol):
    """The notifier's surveys and rating prompts, as the pipeline and the channels see them."""

    async def recognise(self, session: AsyncSession, *, citizen_id: int, text: str) -> Any:
        """The sender's prompt this message plainly answers, or None."""
        ...

    async def apply(
        self, session: AsyncSession, prompt: Any, *, text: str, channel: str, now: datetime
    ) -> AppliedAnswer: ...

    async def record(
        self, *, text: str, channel: str, identity: SenderIdentity
    ) -> AnswerOutcome: ...

    async def rate_ticket(self, *, ticket_id: int, rating: str, channel: str) -> AnswerOutcome:
        """A rating (satisfied | basic | unsatisfied) given where the citizen has already
        proved the ticket is theirs (the web status page): it answers the ticket's survey."""
        ...
