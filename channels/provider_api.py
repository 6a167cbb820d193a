"""What the WeChat and WeCom API clients share: errors, log redaction, the access-token cache.

Both providers hand out an access token that a new fetch may invalidate (WeChat) or whose
fetches are rate limited (WeCom), so the token lives in Redis and only the holder of a Redis
lock fetches a new one; everybody else waits and re-reads. A call answered with one of the
provider's stale-token errcodes refreshes once, past that exact token, and is retried once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import httpx
from redis.asyncio import Redis
from redis.exceptions import LockError

log = logging.getLogger(__name__)

R = TypeVar("R")
# fetches a new token (`force`: the cached one was rejected): the token and its lifetime in s
FetchToken = Callable[[bool], Awaitable[tuple[str, int]]]


class ProviderApiError(Exception):
    """The provider answered with a non-zero errcode (or with something that is not its JSON)."""

    provider: ClassVar[str] = "provider"
    shown: ClassVar[int | None] = None  # how much of errmsg goes into the message; None: all
    unreadable: ClassVar[int] = -2  # the errcode an answer with an unreadable errcode counts as

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{self.provider} errcode {errcode}: {errmsg[: self.shown]}")
        self.errcode = errcode
        self.errmsg = errmsg

    @classmethod
    def errcode_of(cls, result: Mapping[str, Any]) -> int:
        try:
            return int(result.get("errcode", 0))
        except (TypeError, ValueError):
            return cls.unreadable

    @classmethod
    def check(cls, result: dict[str, Any]) -> dict[str, Any]:
        """`result` when its errcode is 0; else raise this error."""
        code = cls.errcode_of(result)
        if code != 0:
            raise cls(code, str(result.get("errmsg", "")))
        return result


class ProviderUnavailable(Exception):
    """The provider could not be reached, answered 5xx/429, or the token lock was not obtained."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider's name, its error types and the errcodes that mean a stale token."""

    name: str
    error: type[ProviderApiError]
    unavailable: type[ProviderUnavailable]
    stale_token: frozenset[int]

    def unreachable(self, exc: httpx.HTTPError) -> ProviderUnavailable:
        return self.unavailable(f"{self.name} unreachable: {type(exc).__name__}")

    def refuse_busy(self, status_code: int) -> None:
        """Raise the transient error for a 5xx or 429 answer."""
        if status_code >= 500 or status_code == 429:
            raise self.unavailable(f"{self.name} answered HTTP {status_code}")

    async def request_json(
        self, http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> dict[str, Any]:
        """One HTTP call whose answer must be the provider's JSON object; transport trouble
        is transient."""
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        self.refuse_busy(response.status_code)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            raise self.error(-2, f"unexpected answer (HTTP {response.status_code})")
        return data


class RedactSecrets(logging.Filter):
    """Keeps tokens, secrets and keys given as query parameters out of httpx's log lines."""

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__()
        self.names = frozenset(names)
        alternatives = "|".join(sorted(map(re.escape, self.names)))
        self._pattern = re.compile(rf"({alternatives})=[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._pattern.search(message):
            record.msg, record.args = self._pattern.sub(r"\1=***", message), ()
        return True


def install_redaction(names: Iterable[str]) -> None:
    """Idempotently attach a filter redacting these query parameters to httpx's logger."""
    wanted = frozenset(names)
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSecrets) and f.names == wanted for f in httpx_log.filters):
        httpx_log.addFilter(RedactSecrets(wanted))


class TokenCache:
    """One account's access token in Redis, fetched under a Redis lock by one process."""

    def __init__(
        self,
        provider: Provider,
        *,
        redis: Redis,
        key: str,
        fetch: FetchToken,
        label: str,
        lock_ttl: float = 15.0,
        lock_wait: float = 20.0,
        poll_interval: float = 0.02,
    ) -> None:
        """`key` is the token's Redis key (its lock is `key:lock`); `label` names the account
        in log lines."""
        self._provider, self._redis, self._fetch, self._label = provider, redis, fetch, label
        self._key, self._lock_key = key, f"{key}:lock"
        self._lock_ttl, self._lock_wait, self._poll = lock_ttl, lock_wait, poll_interval

    async def get(self) -> str:
        """The cached token, or a freshly fetched one (one fetch across all processes)."""
        cached = await self.cached()
        return cached if cached else await self.refresh(stale=None)

    async def cached(self) -> str | None:
        value = await self._redis.get(self._key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def refresh(self, *, stale: str | None) -> str:
        """Fetch a token under the lock unless someone already replaced `stale` meanwhile."""
        name = self._provider.name
        lock = self._redis.lock(
            self._lock_key, timeout=self._lock_ttl, sleep=self._poll, thread_local=False
        )
        if not await lock.acquire(blocking=True, blocking_timeout=self._lock_wait):
            raise self._provider.unavailable(f"{name}: timed out waiting for the access-token lock")
        try:
            cached = await self.cached()
            if cached and cached != stale:
                return cached
            token, expires_in = await self._fetch(stale is not None)
            ttl = max(expires_in - 300, expires_in // 2, 1)
            await self._redis.set(self._key, token, ex=ttl)
            log.info("%s access token refreshed for %s (valid %ss)", name, self._label, ttl)
            return token
        finally:
            with suppress(LockError):
                await lock.release()

    async def call(self, attempt: Callable[[str], Awaitable[R]], *, what: str) -> R:
        """`attempt` with the token; once more with a fresh one when the answer is a JSON
        object whose errcode says the token is stale."""
        token = await self.get()
        result = await attempt(token)
        if not isinstance(result, dict):
            return result
        code = self._provider.error.errcode_of(result)
        if code not in self._provider.stale_token:
            return result
        log.info(
            "%s token rejected (errcode %s) on %s; refreshing", self._provider.name, code, what
        )
        return await attempt(await self.refresh(stale=token))
