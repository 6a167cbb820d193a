"""The few parts of the core the notifier uses, handed over by the composition root.

The notifier never sees the core's whole runtime: `service.wiring.notifier_parts` picks these
out of it, so what the notifier depends on is written down here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from intake.catalog import Catalog
from intake.domain.clock import Clock
from intake.redis.keys import Keys
from intake.storage.database import Database
from intake.storage.outbox import OutboxRelay
from notifier.config import NotifySettings


@dataclass(frozen=True, slots=True)
class NotifierParts:
    db: Database
    redis: aioredis.Redis
    redis_url: str  # saq's queue opens its own (bytes) connection pool to it
    keys: Keys
    clock: Clock
    relay: OutboxRelay  # publishes the events an answer writes
    catalog: Catalog
    # the `notify` settings section: the root's typed one, or a plain dict (the core's)
    notify: dict[str, Any] | NotifySettings
    public_url: str  # where rating links point
    secret_key: str = field(repr=False)  # signs rating links
