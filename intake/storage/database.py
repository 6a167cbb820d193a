"""Engines and sessions for SQLite (default, WAL) and PostgreSQL (production).

SQLite allows one writer: write transactions take the lock up front (BEGIN IMMEDIATE) so that
they wait for it instead of failing half-way, while reads use a second engine with deferred
transactions so that status lookups never queue behind the pipeline's writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create

from intake.config import Settings


@dataclass
class Database:
    engine: AsyncEngine
    read_engine: AsyncEngine
    write: async_sessionmaker[AsyncSession]
    read: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# orjson for JSON columns: several times faster than the standard library, and it writes
# dataclasses and aware datetimes as they are. Parameters are citizens' phones, names and
# words: an error's message must not carry them into a log or a dead letter.
_ENGINE: dict[str, Any] = {
    "json_serializer": _dumps,
    "json_deserializer": orjson.loads,
    "hide_parameters": True,
}


def open_database(settings: Settings) -> Database:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
        reader = _sqlite_engine(url, begin="BEGIN")
    else:
        # 20 kept open: a burst of webhooks waiting on lookups would otherwise open and close
        # overflow connections (a PostgreSQL connection costs milliseconds to set up)
        writer = _create(url, pool_size=20, max_overflow=10, **_ENGINE)
        _ping_when_idle(writer)
        reader = writer
    return Database(
        engine=writer,
        read_engine=reader,
        write=async_sessionmaker(writer, expire_on_commit=False),
        read=async_sessionmaker(reader, expire_on_commit=False),
    )


# A connection unused this long is checked before use (the server may have restarted or
# closed it meanwhile); busy ones are not: pinging every checkout costs three round trips
# (BEGIN, a query, ROLLBACK) per transaction. A connection that dies under load fails that
# transaction once and the pool is renewed; callers that retry (the pipeline) do not notice.
IDLE_PING_S = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            dbapi_conn.ping()
        except Exception as exc:  # the pool replaces it and tries again
            raise DisconnectionError(f"stale connection: {exc!r}") from exc


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    engine = _create(url, connect_args={"timeout": 30}, **_ENGINE)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's recipe: we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            # a 64 MiB page cache (the default is 2 MiB): the indexes of a busy day's tickets
            # stay in memory instead of being re-read for every batch of inserts
            "cache_size=-65536",
            "temp_store=MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine
