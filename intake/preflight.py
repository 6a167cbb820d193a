"""Start-up checks: every setting is tried in the parent process before anything starts.

An operator who mistyped a variable gets one line that names it and says what is wrong with
its value (`INTAKE_DATABASE_URL: cannot connect to 127.0.0.1:1 (connection refused)`) and exit
code 2, instead of a driver's traceback, or a child process that dies after start-up. The core
checks what it owns (its settings model, the database, Redis, files and the time zone); the
sections it keeps as loose dicts (channels, the notifier) are typed by the composition root's
settings model, whose `load` is passed in (or checked by validators passed in as `sections`),
so the core imports neither.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Collection, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis.asyncio as aioredis
import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from intake.config import Settings
from intake.domain.errors import ConfigurationError

ENV_PREFIX = "INTAKE_"
CONNECT_TIMEOUT_S = 10.0
SERVICES = ("database", "redis")

# A section check validates one loosely typed section of the settings; it raises pydantic's
# ValidationError, ValueError or ConfigurationError (chained from a ValidationError or not).
SectionCheck = Callable[[Settings], object]

_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|KEY", re.IGNORECASE)
# parts of pydantic's error location that name a type of a union, not a setting
_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|bytes|function-\w+\[.*\]|\w+\[.*\])$")


class SettingsRefused(Exception):
    """The settings cannot work: one line per bad setting, to print before exiting with 2."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def env_name(*loc: object) -> str:
    """("pipeline", "batch_size") → INTAKE_PIPELINE__BATCH_SIZE."""
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def validation_lines(error: ValidationError, *, section: tuple[str, ...] = ()) -> list[str]:
    """pydantic's errors as one line per bad setting, named as its environment variable."""
    lines: dict[str, str] = {}
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and _TYPE_TAG.match(p)))
        loc = (*section, *loc)
        name = env_name(*loc) if loc else ""
        if name in lines:
            continue
        message = _message(item, secret=bool(_SECRET_NAME.search(name)))
        lines[name] = f"{name}: {message}" if name else message
    return list(lines.values())


def _message(item: Any, *, secret: bool) -> str:
    message = re.sub(r"^(Value error|Assertion failed), ", "", str(item["msg"]))
    value = item.get("input")
    quotable = isinstance(value, str | int | float) and not isinstance(value, bool)
    if item["type"] != "value_error" and quotable and not secret and len(str(value)) <= 80:
        message += f" (got {value!r})"
    return message


def refusal(exc: BaseException, *, section: tuple[str, ...] = ()) -> list[str]:
    """The lines for an error raised while validating settings (or a section of them)."""
    cause = exc if isinstance(exc, ValidationError) else exc.__cause__
    if isinstance(cause, ValidationError):
        return validation_lines(cause, section=section)
    message = _one_line(str(exc))
    if section and not message.startswith(ENV_PREFIX):
        return [f"{env_name(*section)}: {message}"]
    return [message]


def load_checked(load: Callable[[], Settings]) -> Settings:
    """`load()`, with any problem of the settings as `SettingsRefused`."""
    try:
        return load()
    except (ValueError, ConfigurationError) as exc:  # ValidationError is a ValueError
        raise SettingsRefused(refusal(exc)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:  # the config file
        raise SettingsRefused([f"{env_name('config_file')}: {_one_line(str(exc))}"]) from None


def section_problems(settings: Settings, checks: Mapping[str, SectionCheck]) -> list[str]:
    problems: list[str] = []
    for name, check in checks.items():
        try:
            check(settings)
        except (ValueError, ConfigurationError) as exc:
            problems.extend(refusal(exc, section=(name,)))
    return problems


def local_problems(settings: Settings) -> list[str]:
    """What needs no server: the time zone and the files the settings name."""
    problems = []
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{env_name('timezone')}: unknown time zone {settings.timezone!r}")
    for section in ("catalog", "triage"):
        model: BaseModel = getattr(settings, section)
        for field, value in model:
            if isinstance(value, Path) and not value.is_file():
                problems.append(f"{env_name(section, field)}: no such file {str(value)!r}")
    return problems


async def database_problem(settings: Settings, *, connect: bool = True) -> str | None:
    """Whether the database URL parses, its driver is installed, and (with `connect`) the
    server takes our credentials and has the database."""
    url = settings.resolved_database_url
    name = env_name("database_url") if settings.database_url else env_name("data_dir")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"{name}: not a database URL (e.g. postgresql+asyncpg://user:pass@host/db)"
    try:
        engine = create_async_engine(parsed, poolclass=NullPool)
    except ImportError as exc:
        return f"{name}: no driver for {parsed.drivername!r} ({exc}); use postgresql+asyncpg://"
    except (ArgumentError, ValueError) as exc:
        return f"{name}: not a valid database URL ({_one_line(str(exc))})"
    try:
        return await _connect_problem(settings, engine, name=name) if connect else None
    finally:
        await engine.dispose()


async def _connect_problem(settings: Settings, engine: AsyncEngine, *, name: str) -> str | None:
    url = engine.url
    where = _where(url.host, url.port or 5432) if url.host else repr(url.database)
    if url.drivername.startswith("sqlite") and not settings.database_url:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"{name}: cannot create {str(settings.data_dir)!r} ({_os_reason(exc)})"
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"{name}: cannot connect to {where} (no answer in {CONNECT_TIMEOUT_S:.0f} s)"
    except OSError as exc:
        return f"{name}: cannot connect to {where} ({_os_reason(exc)})"
    except DBAPIError as exc:
        if url.drivername.startswith("sqlite"):
            return f"{name}: cannot open SQLite file {where} ({_driver_message(exc)})"
        return f"{name}: {where} refused: {_driver_message(exc)}"
    return None


async def redis_problem(settings: Settings, *, connect: bool = True) -> str | None:
    """Whether the Redis URL parses and (with `connect`) the server answers PING."""
    if not settings.redis_url:
        return None  # embedded: started by the service itself
    name = env_name("redis_url")
    try:
        client = aioredis.from_url(settings.redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S)
    except ValueError as exc:
        return f"{name}: not a Redis URL ({_one_line(str(exc))}; e.g. redis://host:6379/0)"
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or _where(kwargs.get("host", "localhost"), kwargs.get("port", 6379))
    try:
        if connect:
            async with asyncio.timeout(CONNECT_TIMEOUT_S + 1):
                await client.ping()
    except TimeoutError:
        return f"{name}: cannot connect to {where} (no answer in {CONNECT_TIMEOUT_S:.0f} s)"
    except aioredis.AuthenticationError as exc:
        return f"{name}: {where} refused the credentials ({_one_line(str(exc))})"
    except aioredis.ConnectionError as exc:
        reason = _os_reason(exc.__cause__) if isinstance(exc.__cause__, OSError) else str(exc)
        return f"{name}: cannot connect to {where} ({_one_line(reason)})"
    except aioredis.RedisError as exc:  # e.g. "DB index is out of range", NOAUTH
        return f"{name}: {where} refused: {_one_line(str(exc))}"
    finally:
        await client.aclose()
    return None


async def service_problems(settings: Settings, *, needs: Collection[str]) -> list[str]:
    """Every URL is parsed; the servers of `needs` are connected to as well."""
    found = await asyncio.gather(
        database_problem(settings, connect="database" in needs),
        redis_problem(settings, connect="redis" in needs),
    )
    return [p for p in found if p]


def preflight(
    load: Callable[[], Settings],
    *,
    sections: Mapping[str, SectionCheck],
    needs: Collection[str] = SERVICES,
) -> Settings:
    """The settings `load()` gives, once all of them are known to work; else
    `SettingsRefused` with every problem found."""
    settings = load_checked(load)
    problems = [*section_problems(settings, sections), *local_problems(settings)]
    problems += _run(service_problems(settings, needs=needs))
    if problems:
        raise SettingsRefused(problems)
    return settings


def _run(checks: Coroutine[Any, Any, list[str]]) -> list[str]:
    """Run the checks to completion, also from a command already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(checks)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, checks).result()


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return _one_line(str(exc)) or type(exc).__name__


def _driver_message(exc: DBAPIError) -> str:
    orig = exc.orig
    return _one_line(str(orig.args[0] if orig is not None and orig.args else orig))


def _one_line(message: str) -> str:
    return " ".join(message.split())[:300]
