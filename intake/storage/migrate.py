"""Apply Alembic migrations from inside the service (async engines, SQLite or PostgreSQL).

On PostgreSQL an advisory lock makes concurrent starters (API and workers of a compose
deployment) apply migrations one at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x12345


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Any, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            await conn.commit()
        try:
            await conn.run_sync(_upgrade, revision)
            await conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                await conn.commit()


def _revision(connection: Any, message: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.revision(config, message=message, autogenerate=True)


async def autogenerate(engine: AsyncEngine, message: str) -> None:
    """Developer helper: write a new migration from the models' difference to the database.
    Import `service.wiring` first, which registers the notifier's tables on the metadata."""
    async with engine.connect() as conn:
        await conn.run_sync(_revision, message)
