"""A webhook worker in a process of its own, for the test that kills it (settings from the
environment, as `intake worker` reads them)."""

from __future__ import annotations

import asyncio
import signal

from intake.config import load_settings
from intake.integration.webhook_worker import run_webhooks
from intake.redis.connection import open_redis
from intake.storage.database import open_database


async def main() -> None:
    settings = load_settings()
    db = open_database(settings)
    redis = await open_redis(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await run_webhooks(
            db=db,
            redis=redis.client,
            keys=redis.keys,
            settings=settings.integration,
            stop=stop,
            claim_idle_ms=500,
            lease_s=1.0,
        )
    finally:
        await redis.close()
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
