"""The data side of IMAP for the reader: UID sets, FETCH responses, response codes.

Pure functions over aioimaplib's response lines, kept apart from the connection logic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aioimaplib import Response

_FETCH_LINE = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_CODE = r"\[{} (\d+)\]"


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    uidnext: int | None
    exists: int | None


@dataclass(frozen=True, slots=True)
class FetchedMail:
    uid: int
    raw: bytes
    internaldate: datetime | None


def announces_mail(push: Iterable[object]) -> bool:
    return any(isinstance(x, bytes | bytearray) and x.endswith(b" EXISTS") for x in push)


def response_code(text: str, name: str) -> int | None:
    found = re.search(_CODE.format(name), text)
    return int(found.group(1)) if found else None


def last_line(response: Response) -> str:
    lines = [x for x in response.lines if isinstance(x, bytes)]
    return lines[-1].decode("utf-8", "replace")[:200] if lines else ""


def quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string (ASCII names; no modified UTF-7 here)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uid_set(uids: Iterable[int]) -> str:
    """1,2,3,5,7,8 -> '1:3,5,7:8' (short commands for big batches)."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid != prev + 1:
            parts.append(f"{start}:{prev}" if prev != start else str(start))
            start = uid
        prev = uid
    parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


def parse_fetch(lines: list[bytes | bytearray]) -> list[FetchedMail]:
    """Pair each `n FETCH (... BODY[] {size}` line with its literal (a bytearray)."""
    mails: list[FetchedMail] = []
    for index, line in enumerate(lines):
        if not isinstance(line, bytes) or not _FETCH_LINE.match(line):
            continue
        literal = lines[index + 1] if index + 1 < len(lines) else None
        if not isinstance(literal, bytearray):
            continue  # a flag update, not a message
        tail = lines[index + 2] if index + 2 < len(lines) else b""
        meta = line + b" " + (bytes(tail) if isinstance(tail, bytes) else b"")
        uid = _UID.search(meta)
        if uid is None:
            continue
        mails.append(FetchedMail(int(uid.group(1)), bytes(literal), _internaldate(meta)))
    return mails


def _internaldate(meta: bytes) -> datetime | None:
    found = _INTERNALDATE.search(meta)
    if not found:
        return None
    try:
        return datetime.strptime(found.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None
