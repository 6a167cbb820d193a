"""One IMAP connection for the mailbox reader, on aioimaplib, with the pitfalls handled.

- A dropped connection is noticed at once (aioimaplib's connection-lost callback), not only
  when a command times out: every command races the loss and raises `ConnectionLost`.
- STARTTLS is done here (aioimaplib 2.0 has no call for it): the command, then
  `loop.start_tls` on the same protocol, then CAPABILITY again, before the password is sent.
- `UID SEARCH UID n:*` (like `UID FETCH n:*`) also answers the highest existing UID when it is
  below n (RFC 3501 §6.4.8), so every UID list is filtered on the client side.
- aioimaplib's recursive response parser is replaced (imap_protocol.py): big batches are safe.
- IDLE is left before `idle_timeout` (< 29 min, RFC 2177) and on any EXISTS push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable

import aioimaplib
from aioimaplib import Command, Response

from channels.email.imap_data import (
    FetchedMail,
    FolderState,
    announces_mail,
    last_line,
    parse_fetch,
    quote,
    response_code,
    uid_set,
)
from channels.email.imap_protocol import SafeIMAP4
from channels.email.settings import EmailSettings

log = logging.getLogger(__name__)


class ImapError(Exception):
    """The server said NO/BAD, or answered something we cannot use."""


class ConnectionLost(ImapError):
    """The connection dropped (or was never made)."""


class ImapSession:
    """Connect, log in and select with `open`; then search, fetch, mark and wait."""

    def __init__(self, client: aioimaplib.IMAP4, lost: asyncio.Event, s: EmailSettings) -> None:
        self._client = client
        self._lost = lost
        self._s = s

    @classmethod
    async def open(cls, s: EmailSettings) -> ImapSession:
        lost = asyncio.Event()
        context = s.imap_ssl_context() if s.imap_security in ("ssl", "tls") else None
        client = SafeIMAP4(
            host=s.imap_host,
            port=s.imap_port_resolved,
            timeout=s.imap_timeout,
            conn_lost_cb=lambda _exc: lost.set(),
            ssl_context=context,
        )
        session = cls(client, lost, s)
        try:
            await client.wait_hello_from_server()
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        if s.imap_security == "starttls":
            await session._starttls()
        await session._login()
        return session

    @property
    def has_idle(self) -> bool:
        return self._s.use_idle and self._client.has_capability("IDLE")

    @property
    def alive(self) -> bool:
        return not self._lost.is_set()

    async def _call(self, aw: Awaitable[Response], what: str) -> Response:
        """Run one command; raise `ConnectionLost` if the connection drops meanwhile."""
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            raise ConnectionLost(f"connection lost during {what}")
        try:
            response = task.result()
        except (aioimaplib.CommandTimeout, TimeoutError) as exc:
            raise ConnectionLost(f"{what} timed out") from exc
        except aioimaplib.Abort as exc:
            raise ImapError(f"{what} aborted: {exc}") from exc
        if response.result != "OK":
            raise ImapError(f"{what} failed: {response.result} {last_line(response)}")
        return response

    async def _starttls(self) -> None:
        protocol = self._client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("server does not offer STARTTLS; refusing to log in in clear text")
        command = Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        await self._call(protocol.execute(command), "STARTTLS")
        context = self._s.imap_ssl_context()
        loop = asyncio.get_running_loop()
        transport = await asyncio.wait_for(
            loop.start_tls(
                protocol.transport, protocol, context, server_hostname=self._s.imap_host
            ),
            self._s.imap_timeout,
        )
        protocol.transport = transport
        await self._call(_capability(protocol), "CAPABILITY")

    async def _login(self) -> None:
        password = self._s.imap_password.get_secret_value()
        await self._call(self._client.login(self._s.login_user, password), "LOGIN")
        # capabilities after login may differ from the greeting's (IDLE, MOVE, UIDPLUS)
        await self._call(_capability(self._client.protocol), "CAPABILITY")

    async def select(self, folder: str) -> FolderState:
        response = await self._call(self._client.select(quote(folder)), "SELECT")
        text = b"\n".join(x for x in response.lines if isinstance(x, bytes)).decode(
            "ascii", "replace"
        )
        validity = response_code(text, "UIDVALIDITY")
        if validity is None:
            raise ImapError("SELECT gave no UIDVALIDITY")
        found = re.search(r"(?m)^(\d+) EXISTS", text)
        exists = int(found.group(1)) if found else None
        return FolderState(validity, response_code(text, "UIDNEXT"), exists)

    async def ensure_folder(self, folder: str) -> None:
        """CREATE the folder unless it exists (an ALREADYEXISTS NO is fine)."""
        response = await self._call(self._client.list('""', quote(folder)), "LIST")
        if any(isinstance(x, bytes) and x.startswith(b"LIST ") for x in response.lines):
            return
        with contextlib.suppress(ImapError):
            await self._call(self._client.create(quote(folder)), "CREATE")

    async def uids_after(self, last_uid: int, *, unkeyword: str | None = None) -> list[int]:
        """UIDs above `last_uid`, ascending (client-side filter for the `n:*` gotcha)."""
        criteria = [f"UID {last_uid + 1}:*"]
        if unkeyword:
            criteria.append(f"UNKEYWORD {unkeyword}")
        response = await self._call(self._client.uid_search(*criteria, charset=None), "UID SEARCH")
        found: set[int] = set()
        for line in response.lines[:-1]:  # the last line is the tagged OK's text
            if isinstance(line, bytes):  # "SEARCH 1 2 3", or "1 2 3" (aioimaplib strips it)
                found.update(int(x) for x in line.removeprefix(b"SEARCH").split() if x.isdigit())
        return sorted(uid for uid in found if uid > last_uid)

    async def fetch(self, uids: list[int]) -> list[FetchedMail]:
        """The raw mails (BODY.PEEK: not marked \\Seen), only those asked for."""
        if not uids:
            return []
        response = await self._call(
            self._client.uid("fetch", uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])"),
            "UID FETCH",
        )
        wanted = set(uids)
        return [m for m in parse_fetch(response.lines) if m.uid in wanted]

    async def mark_processed(self, uids: list[int]) -> None:
        if not uids:
            return
        s, ids = self._s, uid_set(uids)
        if s.processed_action == "flag":
            flags = f"(\\Seen {s.processed_keyword})"
            await self._call(self._client.uid("store", ids, "+FLAGS.SILENT", flags), "UID STORE")
        elif s.processed_action == "move" and self._client.has_capability("MOVE"):
            await self._call(self._client.uid("move", ids, quote(s.processed_folder)), "UID MOVE")
        else:
            await self._copy_delete(ids)

    async def _copy_delete(self, ids: str) -> None:
        folder = quote(self._s.processed_folder)
        await self._call(self._client.uid("copy", ids, folder), "UID COPY")
        await self._call(
            self._client.uid("store", ids, "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE"
        )
        if self._client.has_capability("UIDPLUS"):
            await self._call(self._client.uid("expunge", ids), "UID EXPUNGE")
        else:  # also expunges what other clients marked \Deleted: the best without UIDPLUS
            await self._call(self._client.expunge(), "EXPUNGE")

    async def wait_for_news(self, within: float) -> None:
        """Until the server announces a new mail (IDLE) or `within` seconds pass."""
        if not self.has_idle:
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await asyncio.wait({lost}, timeout=within)
            finally:
                lost.cancel()
            await self._call(self._client.noop(), "NOOP")  # also notices a dead connection
            return
        await self._idle(within)

    async def _idle(self, within: float) -> None:
        try:
            idle = await self._client.idle_start(timeout=within)
        except aioimaplib.Abort as exc:
            raise ImapError(f"IDLE refused: {exc}") from exc
        try:
            while True:
                push = await self._call_push(within + self._s.imap_timeout)
                if push is aioimaplib.STOP_WAIT_SERVER_PUSH or announces_mail(push):
                    break
        finally:
            if self.alive and self._client.has_pending_idle():
                self._client.idle_done()
            elif not self.alive:
                idle.cancel()
        await self._call(asyncio.wait_for(idle, self._s.imap_timeout), "IDLE")

    async def _call_push(self, within: float) -> list[bytes]:
        task = asyncio.ensure_future(self._client.wait_server_push(timeout=within))
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            raise ConnectionLost("connection lost while idling")
        try:
            push = task.result()
        except TimeoutError as exc:
            raise ConnectionLost("no answer while idling") from exc
        return push if isinstance(push, list) else [push]

    async def close(self) -> None:
        """LOGOUT politely when possible; never raises."""
        if self.alive:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.logout(), 2.0)
        transport = self._client.protocol.transport
        if transport is not None:
            transport.close()


async def _capability(protocol: aioimaplib.IMAP4ClientProtocol) -> Response:
    """CAPABILITY again (aioimaplib's call updates the set but returns nothing)."""
    await protocol.capability()
    return Response("OK", [])
