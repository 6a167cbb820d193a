"""A small keep-alive HTTP/1.1 client for the gateway's plain-http interface (Kannel sendsms).

Why not httpx here: sendsms takes one GET per SMS, and at a thousand SMS a second httpx's own
per-request work (re-parsing and quoting the URL in Python, and httpcore scanning and polling
every pooled connection on each request) costs more CPU than everything else on the send path
(figures in bench/README.md). Kannel's HTTP server answers a GET with a status line, a few
headers and a short body (Content-Length, chunked, or until close); that is all this speaks.
No TLS and no proxies: anything on the internet goes through httpx (see cloud.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADERS = 100


class GatewayHttpError(Exception):
    """The gateway could not be reached or answered nonsense (retrying may help)."""


class _Stale(Exception):
    """A reused connection the server had closed: the request was never read."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: str


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


class GatewayHttp:
    """At most `max_connections` keep-alive connections to one `http://host:port`."""

    def __init__(self, base_url: str, *, max_connections: int = 32, timeout: float = 10.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"GatewayHttp speaks plain http only, not {base_url!r}")
        self.host, self.port = url.hostname, url.port or 80
        self._prefix = url.path.rstrip("/")
        self._host_header = f"{self.host}:{self.port}".encode()
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Conn] = []

    async def get(self, path: str, query: str) -> Reply:
        """GET `path?query` (already percent-encoded). Raises `GatewayHttpError`."""
        target = f"{self._prefix}{path}?{query}".encode("ascii")
        request = b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, self._host_header)
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._send(request)
            except TimeoutError as exc:
                raise GatewayHttpError(f"no answer within {self._timeout:g}s") from exc
            except _Stale as exc:
                raise GatewayHttpError("connection closed without an answer") from exc
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                raise GatewayHttpError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def _send(self, request: bytes) -> Reply:
        if self._idle:
            conn = self._idle.pop()
            try:
                return await self._exchange(conn, request)
            except _Stale:
                pass  # closed by the server while idle: once more on a new connection
        return await self._exchange(await self._open(), request)

    async def _open(self) -> _Conn:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Conn(reader, writer)

    async def _exchange(self, conn: _Conn, request: bytes) -> Reply:
        try:
            status_line = await _start(conn, request)
            reply, keep = await _read_response(conn.reader, status_line)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return reply


async def _start(conn: _Conn, request: bytes) -> bytes:
    """Send the request and read the status line; `_Stale` when not a byte came back (only
    then is a retry safe: the gateway never took the request)."""
    try:
        conn.writer.write(request)
        await conn.writer.drain()
        line = await conn.reader.readline()
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise _Stale from exc
    if not line:
        raise _Stale
    return line


async def _read_response(reader: asyncio.StreamReader, status_line: bytes) -> tuple[Reply, bool]:
    """(the reply, whether the connection may be reused)."""
    version, _, rest = status_line.strip().partition(b" ")
    code = rest.split(b" ", 1)[0]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
    headers = await _headers(reader)
    connection = headers.get(b"connection", b"").lower()
    keep = connection != b"close" and (version == b"HTTP/1.1" or connection == b"keep-alive")
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = await _chunked(reader)
    else:
        body, keep = await reader.read(), False  # delimited by the close
    return Reply(int(code), body.decode("utf-8", "replace")), keep


async def _headers(reader: asyncio.StreamReader) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    for _ in range(MAX_HEADERS):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("too many headers")


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16):
        parts.append(await reader.readexactly(size))
        await reader.readline()
    with contextlib.suppress(ValueError):
        await _headers(reader)  # trailers, if any
    return b"".join(parts)
