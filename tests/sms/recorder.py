"""A small HTTP server recording Kannel's callbacks (get-url MO, dlr-url DLR) as raw bytes.

Raw bytes on purpose: `%b` carries percent-encoded octets that are not always UTF-8, which is
exactly what the parsers under test must cope with.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Hit:
    path: str
    raw_query: bytes  # exactly as Kannel sent it (still percent-encoded)

    @property
    def params(self) -> dict[str, str]:
        pairs = urllib.parse.parse_qsl(self.raw_query.decode("latin-1"), keep_blank_values=True)
        return dict(pairs)


class Recorder:
    """A tiny HTTP server recording every GET (Kannel's get-url and dlr-url callbacks)."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._cond = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                with recorder._cond:
                    recorder.hits.append(Hit(path, query.encode("latin-1")))
                    recorder._cond.notify_all()
                self.send_response(200)  # empty body: smsbox sends no reply SMS
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, pred: Callable[[Hit], bool], timeout: float = 10.0) -> Hit:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for hit in self.hits:
                    if pred(hit):
                        return hit
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching callback; got {[h.path for h in self.hits]}")
                self._cond.wait(min(left, 0.1))

    def matching(self, path: str) -> list[Hit]:
        with self._cond:
            return [h for h in self.hits if h.path == path]

    def wait_nth(self, path: str, n: int, timeout: float = 10.0) -> Hit:
        """The n-th (0-based) callback on `path`, waiting for it if needed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [h for h in self.hits if h.path == path]
                if len(hits) > n:
                    return hits[n]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"only {len(hits)} callbacks on {path}")
                self._cond.wait(min(left, 0.1))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
