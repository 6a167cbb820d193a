"""Living through Redis and database outages: which errors are one, how long to wait, what to log.

A long-running loop (the pipeline, the notifier's consumers, relays, channel readers) must not
die when Redis restarts or PostgreSQL is stopped for a while: it waits with a capped
exponential backoff with jitter, logs the outage once (a warning when it starts, an info line
with its duration when it ends) and goes on by itself. `is_outage` tells such an error from a
bug: redis-py's `ConnectionError`/`TimeoutError` are not the built-ins of the same names.
`supervise` restarts a loop that died of anything else, after logging it with its traceback.

The backoff is a few lines here rather than a retry library: what a loop needs around it (an
outage logged once across many retries, a wait that a stop event cuts short, a shared state
between a loop and its background acknowledgements) is this module's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from intake.cancellation import stop_if_cancelled
from intake.domain.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_INITIAL_S = 0.2
BACKOFF_CAP_S = 5.0  # a restarted server is noticed within this long
RESTART_PAUSE_S = 5.0  # a loop that died of a bug is started again after this long

_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.ENOTCONN,
    }
)
# PostgreSQL: connection exceptions (class 08), shutting down or starting up (57P01-57P03),
# too many connections (53300)
_PG_OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_SQLITE_TRANSIENT = ("database is locked", "unable to open database file", "disk i/o error")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means Redis or the database is unreachable for now (worth waiting out),
    as opposed to a bug or bad data (worth a traceback and a dead letter)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_outage(inner) for inner in exc.exceptions)
    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return True  # BusyLoadingError (a restarted server reading its file) is one too
    if isinstance(exc, sa_errors.DBAPIError):
        return exc.connection_invalidated or _database_outage(exc.orig)
    if isinstance(exc, sa_errors.TimeoutError | sa_errors.DisconnectionError):
        return True  # no pooled connection came free, or one was found dead
    return _database_outage(exc)


def outage_kind(exc: BaseException) -> str:
    """Which service an outage is of, "redis" or "database": for log lines."""
    if isinstance(exc, redis_errors.RedisError):
        return "redis"
    if isinstance(exc, Unavailable) and exc.__cause__ is not None:
        return outage_kind(exc.__cause__)
    return "database"


def _database_outage(exc: BaseException | None) -> bool:
    """The driver's own errors: asyncpg's, sqlite3's, or the socket's under them."""
    for found in _chain(exc):
        state = str(getattr(found, "sqlstate", "") or "")
        if state.startswith(_PG_OUTAGE_STATES):
            return True
        if type(found).__module__.startswith("sqlite3") and any(
            text in str(found).lower() for text in _SQLITE_TRANSIENT
        ):
            return True
        if _network_error(found):
            return True
        if "connection is closed" in str(found) or "connection was closed" in str(found):
            return True
    return False


def _network_error(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):  # the built-ins: refused, reset, …
        return True
    if not isinstance(exc, OSError):
        return False
    if exc.errno in _NETWORK_ERRNOS:
        return True
    # asyncio's create_connection trying several addresses: "Multiple exceptions: …"
    return type(exc) is OSError and exc.errno is None


def _chain(exc: BaseException | None) -> list[BaseException]:
    """The error and what it was raised from (a driver's error wraps the socket's)."""
    found: list[BaseException] = []
    while exc is not None and len(found) < 5:
        found.append(exc)
        exc = exc.__cause__
    return found


def is_nogroup(exc: BaseException) -> bool:
    """A consumer group missing: Redis restarted without persistence (or its file was lost)."""
    return isinstance(exc, redis_errors.ResponseError) and str(exc).startswith("NOGROUP")


class Backoff:
    """Capped exponential delays with "equal jitter": between half and all of the step."""

    def __init__(
        self,
        *,
        initial: float = BACKOFF_INITIAL_S,
        cap: float = BACKOFF_CAP_S,
        rng: random.Random | None = None,
    ) -> None:
        self._initial, self._cap = initial, cap
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        step = min(self._cap, self._initial * 2 ** min(self._attempt, 30))
        self._attempt += 1
        return self._rng.uniform(step / 2, step)

    def reset(self) -> None:
        self._attempt = 0


class OutageLog:
    """One warning when an outage starts, one info line (with its length) when it ends."""

    def __init__(self, what: str, *, logger: logging.Logger | None = None) -> None:
        self.what = what
        self._log = logger or log
        self.since: float | None = None
        self.failures = 0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.since is not None:
            self._log.debug("%s: still unavailable: %s", self.what, _brief(exc))
            return
        self.since = time.monotonic()
        self._log.warning(
            "%s: %s unavailable (%s); retrying with backoff",
            self.what,
            outage_kind(exc),
            _brief(exc),
        )

    def recovered(self) -> None:
        if self.since is None:
            return
        took = time.monotonic() - self.since
        self._log.info(
            "%s: recovered after %.1f s (%d failed attempts)", self.what, took, self.failures
        )
        self.since, self.failures = None, 0


class OutageGuard:
    """An `OutageLog` with a backoff: what a loop keeps across its laps."""

    def __init__(
        self,
        what: str,
        *,
        logger: logging.Logger | None = None,
        initial: float = BACKOFF_INITIAL_S,
        cap: float = BACKOFF_CAP_S,
    ) -> None:
        self.log = OutageLog(what, logger=logger)
        self._backoff = Backoff(initial=initial, cap=cap)

    @property
    def active(self) -> bool:
        return self.log.active

    async def pause(self, exc: BaseException, stop: asyncio.Event | None = None) -> None:
        """Log the outage (once) and wait the next backoff delay, less if `stop` is set."""
        self.log.failed(exc)
        await wait_or_stop(stop, self._backoff.next())

    def ok(self) -> None:
        """A lap went through: the outage, if any, is over."""
        self.log.recovered()
        self._backoff.reset()

    async def call(
        self, action: Callable[[], Awaitable[T]], stop: asyncio.Event | None = None
    ) -> T:
        """`action()` until it gets through an outage; with `stop` set, the last error is
        raised instead of waiting again. Anything that is not an outage is raised at once."""
        while True:
            try:
                result = await action()
            except Exception as exc:
                if not is_outage(exc) or (stop is not None and stop.is_set()):
                    raise
                await self.pause(exc, stop)
                stop_if_cancelled()
                continue
            self.ok()
            return result


async def wait_or_stop(stop: asyncio.Event | None, seconds: float) -> None:
    """Sleep `seconds`, or until `stop` is set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def supervise(
    name: str,
    loop: Callable[[], Awaitable[None]],
    stop: asyncio.Event | None = None,
    *,
    pause_s: float = RESTART_PAUSE_S,
) -> None:
    """Run `loop()` until it returns, `stop` is set or the task is cancelled; if it raises, log
    why (a traceback for a bug, one line per outage) and start it again after a pause."""
    outage = OutageGuard(name)
    while True:
        stop_if_cancelled()
        try:
            await loop()
            return
        except Exception as exc:
            if stop is not None and stop.is_set():
                log.warning("%s ended while stopping: %s", name, _brief(exc))
                return
            if is_outage(exc):
                await outage.pause(exc, stop)
            else:
                log.exception("%s died; restarting it in %.0f s", name, pause_s)
                await wait_or_stop(stop, pause_s)
        if stop is not None and stop.is_set():
            return


def _brief(exc: BaseException) -> str:
    """Type and message on one line, without parameters or a traceback."""
    if isinstance(exc, sa_errors.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
