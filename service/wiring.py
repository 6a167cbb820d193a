"""The core runtime with the notifier's parts plugged into its interfaces (`intake.interfaces`)."""

from __future__ import annotations

from typing import Any

import notifier.models  # noqa: F401  (registers the notifier's tables on the core's metadata)
from intake.config import Settings
from intake.runtime import Runtime
from notifier.answers import PromptBook
from notifier.parts import NotifierParts
from service.settings import service_settings


def notifier_parts(runtime: Runtime) -> NotifierParts:
    """The few parts of the core runtime the notifier uses (it never gets the whole)."""
    return NotifierParts(
        db=runtime.db,
        redis=runtime.redis.client,
        redis_url=runtime.redis.url,
        keys=runtime.redis.keys,
        clock=runtime.clock,
        relay=runtime.relay,
        catalog=runtime.catalog,
        notify=runtime.settings.notify,
        public_url=runtime.settings.public_url,
        secret_key=runtime.secret_key,
    )


def plug(runtime: Runtime) -> Runtime:
    """Give a core runtime the notifier's prompts (ratings recognised in the pipeline)."""
    runtime.answers = PromptBook(notifier_parts(runtime))
    return runtime


async def open_runtime(settings: Settings, **options: Any) -> Runtime:
    """`Runtime.open` with the implementations plugged in: what every run mode starts from.
    Its settings are the typed whole (`service.settings`), whatever model `settings` is."""
    return plug(await Runtime.open(service_settings(settings), **options))
