"""What the Telegram channel uses of the core: the root hands over these parts, not the runtime.

Kept apart from `connector` so that the bot, which the connector builds, can name the type.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from intake.catalog import Catalog
from intake.config import CatalogSettings
from intake.domain.clock import Clock
from intake.ingest.attachments import AttachmentStore
from intake.interfaces import IntakeGateway, PromptAnswers
from intake.ratelimit.attempts import Limiter
from intake.redis.keys import Keys
from intake.storage.database import Database
from intake.storage.outbox import OutboxRelay


@dataclass(frozen=True, slots=True)
class TelegramParts:
    """What the channel uses of the core, handed over by the composition root."""

    gateway: IntakeGateway  # citizens' messages and guided requests go in here
    redis: aioredis.Redis  # update claims, link codes, send state, drafts, dead letters
    redis_url: str  # the same server with its credentials: aiogram's FSM opens its own pool
    keys: Keys
    clock: Clock
    db: Database  # staff accounts and their ticket actions
    catalog: Catalog  # departments, for the staff's ticket actions
    relay: OutboxRelay  # publishes a staff action's events at once
    limiter: Limiter  # the limits on guided requests
    attachments: AttachmentStore  # files fetched from chats
    catalog_files: CatalogSettings  # the operator's replies and guided catalogue
    answers: PromptAnswers | None = None  # the notifier's rating prompts, if plugged in
