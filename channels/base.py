"""What a channel connector offers the composition root, and what the core offers it.

A connector verifies and parses inbound traffic (pure, total parsing into `InboundMessage`),
hands it to the core through `IntakeGateway.submit`, and acknowledges in the provider's own
way. It may also send outbound messages for the notifier through a `Sender`. The message and
sender types are the core's (`intake.interfaces`), re-exported here for the connectors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter

from intake.interfaces import IntakeGateway, OutboundMessage, Receipt, Sender, SendResult

__all__ = [
    "BackgroundTask",
    "Connector",
    "IntakeGateway",
    "OutboundMessage",
    "Receipt",
    "SendResult",
    "Sender",
]

BackgroundTask = Callable[[], Awaitable[None]]


class Connector(Protocol):
    """May also offer `fast_routes() -> list[intake.api.fast_lanes.FastRoute]`: its busiest
    routes, answered without FastAPI's routing."""

    name: str

    def router(self) -> APIRouter | None: ...

    def sender(self) -> Sender | None: ...

    def background_tasks(self) -> list[BackgroundTask]: ...
