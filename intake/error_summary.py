"""Errors described without the data they were about: for log lines and stored reasons.

An exception's message may carry what it failed on: a driver echoes a bad parameter
("invalid input for query argument $1: '139…'"), PostgreSQL's DETAIL names the duplicate key
("Key (phone)=(+86…) already exists"), a `ValueError` shows the value. `describe()` keeps what
an operator needs to act — the type, the SQLSTATE, the constraint, table and column, the
statement's verb and table, and where in our code it was raised — and none of the values.
`RedactingFormatter` applies the same rule to every traceback the service logs.
"""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path
from types import TracebackType

from redis.exceptions import RedisError
from sqlalchemy.exc import StatementError

# the server's message is kept with its quoted parts blanked unless they are the identifiers
# the server names (constraint, table, column, type): 'invalid input syntax for type integer:
# "139…"' must not reach the log
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\([^()]*\)=\([^()]*\)")
_STATEMENT = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(INSERT\s+INTO|UPDATE|DELETE\s+FROM|SELECT\b.*?\bFROM)\s+([\w.\"]+)",
    re.IGNORECASE | re.DOTALL,
)
_SERVER_FIELDS = ("sqlstate", "constraint_name", "table_name", "column_name", "data_type_name")
_ROOT = Path(__file__).resolve().parent.parent
_OURS = tuple(str(_ROOT / package) + "/" for package in ("intake", "channels", "notifier"))
_MAX = 500


def describe(exc: BaseException) -> str:
    """One line: what failed and where, never with the values it failed on."""
    text = _describe_database(exc) if isinstance(exc, StatementError) else _describe_other(exc)
    cause = _cause(exc)
    if cause is not None and not isinstance(exc, StatementError):
        text += f" (from {_describe_other(cause)})"
    place = where(exc)
    if place:
        text += f" at {place}"
    return text[:_MAX]


def where(exc: BaseException) -> str:
    """The innermost frame of our own code the exception passed through, as path:line."""
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(_OURS):
            found = f"{frame.filename.removeprefix(str(_ROOT) + '/')}:{frame.lineno}"
    return found


def redacted_traceback(exc: BaseException) -> str:
    """A traceback's frames and source lines, each exception shown by `describe` only."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = _cause(current)
    blocks = []
    for link in reversed(chain):
        frames = "".join(traceback.format_tb(link.__traceback__))
        line = _line(link)
        shown = f"{_type_name(link)}: {line}" if line else _type_name(link)
        blocks.append(f"Traceback (most recent call last):\n{frames}{shown}")
    return "\n\nThe above exception led to the following:\n\n".join(blocks)


class RedactingFormatter(logging.Formatter):
    """Formats a logged exception with `redacted_traceback`: the log keeps where, not what."""

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        exc = ei[1]
        if exc is None:
            return super().formatException(ei)
        return redacted_traceback(exc)


def install_redacting_formatter(logger: logging.Logger | None = None) -> None:
    """Give every handler of the root logger (or `logger`) the redacting formatter."""
    for handler in (logger or logging.getLogger()).handlers:
        current = handler.formatter
        fmt = current._fmt if current is not None else None
        datefmt = current.datefmt if current is not None else None
        handler.setFormatter(RedactingFormatter(fmt, datefmt))


def _line(exc: BaseException) -> str:
    if isinstance(exc, StatementError):
        return _describe_database(exc).removeprefix(f"{_type_name(exc)} ")
    return _describe_other(exc).removeprefix(_type_name(exc)).lstrip(": ")


def _describe_database(exc: StatementError) -> str:
    parts = [_type_name(exc)]
    driver = _driver_error(exc)
    details = []
    if driver is not None:
        details.append(_type_name(driver))
        fields = {name: getattr(driver, name, None) for name in _SERVER_FIELDS}
        fields["sqlstate"] = fields["sqlstate"] or getattr(exc.orig, "sqlstate", None)
        details.extend(
            f"{name.removesuffix('_name')}={value}" for name, value in fields.items() if value
        )
        message = _driver_message(driver, fields)
        if message:
            details.append(message)
    if details:
        parts.append(f"[{', '.join(details)}]")
    statement = statement_name(exc.statement)
    if statement:
        parts.append(f"in {statement}")
    return " ".join(parts)


def statement_name(statement: str | None) -> str:
    """'INSERT INTO citizens', 'UPDATE tickets', 'SELECT … FROM messages': never the values."""
    if not statement:
        return ""
    found = _STATEMENT.match(statement[:4000])
    if found is None:
        words = statement.split(None, 1)
        return words[0].upper()[:20] if words else ""
    verb = " ".join(found.group(1).upper().split())
    if verb.startswith("SELECT"):
        verb = "SELECT FROM"
    return f"{verb} {found.group(2)}"


def _driver_error(exc: StatementError) -> BaseException | None:
    """The driver's own exception: asyncpg's sits behind SQLAlchemy's adapter."""
    orig = exc.orig
    if orig is None:
        return None
    inner = orig.__cause__
    if inner is not None and type(inner).__module__.startswith("asyncpg"):
        return inner
    return orig


def _driver_message(driver: BaseException, fields: dict[str, object]) -> str:
    module = type(driver).__module__
    if module.startswith("sqlite3") or module.startswith("aiosqlite"):
        # SQLite's messages name constraints and columns, never bound values
        return str(driver).split("\n", 1)[0][:200]
    server = getattr(driver, "message", None)  # asyncpg: the server's primary message only
    if not isinstance(server, str) or not server:
        return ""  # a client-side driver error quotes the argument it refused
    names = {str(v) for v in fields.values() if v}
    first = server.split("\n", 1)[0]
    return _QUOTED.sub(lambda m: m.group(0) if m.group(0).strip("\"'") in names else "…", first)[
        :200
    ]


def _describe_other(exc: BaseException) -> str:
    name = _type_name(exc)
    if isinstance(exc, StatementError):
        return _describe_database(exc)
    if isinstance(exc, OSError | RedisError):
        # connections and files: hosts, ports and paths under the data folder, not citizens' data
        text = " ".join(str(exc).split())[:200]
        return f"{name}: {text}" if text else name
    return name


def _cause(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _type_name(exc: BaseException) -> str:
    return type(exc).__name__
