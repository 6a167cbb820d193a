"""What a channel connector offers the application factory, and what the core offers it.

A connector verifies and parses inbound traffic (pure, total parsing into `InboundMessage`),
hands it to the core through `IntakeGateway.submit`, and acknowledges in the provider's own
way. It may also send outbound messages for the notifier through a `Sender`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter

from intake.emergency_advice import EmergencyAdvice
from intake.messages import InboundMessage, SenderIdentity


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


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str | None = None
    detail: str | None = None


class Sender(Protocol):
    """Raises `TransientSendError`, `PermanentSendError` or `UnreachableError` on failure."""

    channel: str

    async def send(self, message: OutboundMessage) -> SendResult: ...


BackgroundTask = Callable[[], Awaitable[None]]


class Connector(Protocol):
    """May also offer `fast_routes() -> list[intake.api.fast_lanes.FastRoute]`: its busiest
    routes, answered without FastAPI's routing."""

    name: str

    def router(self) -> APIRouter | None: ...

    def sender(self) -> Sender | None: ...

    def background_tasks(self) -> list[BackgroundTask]: ...
