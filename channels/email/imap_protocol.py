"""aioimaplib's client, with its response parser made safe for big mailboxes.

aioimaplib 2.0.3 parses a received chunk by calling itself once per line, so a chunk holding
more than about a thousand lines (a `UID MOVE` of a few hundred mails answers with one EXPUNGE
line each; one 256 KiB read can hold hundreds of small fetched mails) raises RecursionError
inside `data_received`: the command then never completes and the reader stalls. It also
re-copies the rest of the chunk for every line, and `FETCH` re-scans all lines of its response
on every line. Here the same parser is a loop over offsets, and the FETCH scan is incremental.
Behaviour is otherwise unchanged (same states, same IncompleteRead hand-over between chunks).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import aioimaplib
from aioimaplib import Command, IncompleteRead, Response

CRLF = b"\r\n"


class _FetchCommand(aioimaplib.FetchCommand):
    """`wait_data` remembers where it stopped instead of scanning every line again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scanned = 0
        self._last_fetch = 0

    def wait_data(self) -> bool:
        lines = self._resp_lines
        for index in range(self._scanned, len(lines)):
            line = lines[index]
            if isinstance(line, bytes) and self.FETCH_MESSAGE_DATA_RE.match(line):
                self._last_fetch = index
        self._scanned = len(lines)
        tail = b"".join(x for x in lines[self._last_fetch :] if isinstance(x, bytes))
        return tail.count(b"(") != tail.count(b")")


class SafeProtocol(aioimaplib.IMAP4ClientProtocol):
    def _handle_responses(
        self,
        data: bytes,
        line_handler: Callable[[bytes, Command], Command | None],
        current_cmd: Command | None = None,
    ) -> None:
        pos, size = 0, len(data)
        while True:
            if pos >= size:
                if self.pending_sync_command is not None:
                    self.pending_sync_command.flush()
                if current_cmd is not None and current_cmd.wait_data():
                    raise IncompleteRead(current_cmd)
                return
            if current_cmd is not None and current_cmd.wait_literal_data():
                pos = _feed_literal(current_cmd, data, pos)
                if current_cmd.wait_literal_data():
                    raise IncompleteRead(current_cmd)
            end = data.find(CRLF, pos)
            if end < 0:
                raise IncompleteRead(current_cmd, data[pos:])
            line = data[pos:end]
            pos = end + 2
            cmd = line_handler(line, current_cmd)
            literal = aioimaplib.literal_data_re.match(line)
            if literal:
                if cmd is None:
                    cmd = Command("NIL", "unused")
                cmd.begin_literal_data(int(literal.group("size")))
                current_cmd = cmd
            elif cmd is not None and cmd.wait_data():
                current_cmd = cmd
            else:
                current_cmd = None

    async def fetch(
        self,
        message_set: str,
        message_parts: str,
        by_uid: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (aioimaplib's signature)
    ) -> Response:
        command = _FetchCommand(
            self.new_tag(),
            message_set,
            message_parts,
            prefix="UID" if by_uid else "",
            loop=self.loop,
            timeout=timeout,
        )
        return await self.execute(command)


def _feed_literal(command: Command, data: bytes, pos: int) -> int:
    """Hand the command as much of its literal as `data` holds; returns the new offset."""
    missing = command._expected_size - len(command._resp_literal_data)
    chunk = data[pos : pos + missing]
    command.append_literal_data(chunk)
    return pos + len(chunk)


class SafeIMAP4(aioimaplib.IMAP4):
    """`aioimaplib.IMAP4` on `SafeProtocol`."""

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = SafeProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )
