"""Async client for WeCom's server API (`gettoken`, `message/send`), one token per app.

The access token lives in Redis; only the holder of a Redis lock fetches a new one, everybody
else waits and re-reads, so many workers share one token instead of each fetching their own
(WeCom limits `gettoken` calls). A call answered with a stale-token errcode (40014 invalid,
42001 expired) refreshes once, past that exact token, and is retried once. HTTP is httpx.
"""

from __future__ import annotations

import logging
import re
from contextlib import suppress
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import LockError

from .settings import WeComSettings

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40014, 42001})
_REDACT = re.compile(r"(access_token|corpsecret|key)=[^&\s\"']+")


class WeComApiError(Exception):
    """WeCom answered with a non-zero errcode (or with something that is not its JSON)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"wecom errcode {errcode}: {errmsg[:200]}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeComUnavailable(Exception):
    """WeCom could not be reached, answered 5xx/429, or the token lock was not obtained."""


class RedactSecrets(logging.Filter):
    """Keeps access tokens, the app secret and robot keys out of httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _REDACT.search(message):
            record.msg, record.args = _REDACT.sub(r"\1=***", message), ()
        return True


def install_redaction() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSecrets) for f in httpx_log.filters):
        httpx_log.addFilter(RedactSecrets())


async def request_json(
    http: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> dict[str, Any]:
    """One HTTP call whose answer must be WeCom's JSON object; transport trouble is transient."""
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise WeComUnavailable(f"wecom unreachable: {type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise WeComUnavailable(f"wecom answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        raise WeComApiError(-2, f"unexpected answer (HTTP {response.status_code})")
    return data


def errcode(result: dict[str, Any]) -> int:
    try:
        return int(result.get("errcode", 0))
    except (TypeError, ValueError):
        return -2


def checked(result: dict[str, Any]) -> dict[str, Any]:
    code = errcode(result)
    if code != 0:
        raise WeComApiError(code, str(result.get("errmsg", "")))
    return result


class WeComClient:
    """The app's API client; safe to use from many coroutines and many processes."""

    def __init__(
        self,
        settings: WeComSettings,
        *,
        redis: Redis,
        key_prefix: str,
        http: httpx.AsyncClient | None = None,
        lock_ttl: float = 15.0,
        lock_wait: float = 20.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.settings = settings
        self._redis = redis
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_http = http is None
        name = f"{key_prefix}wecom:{settings.corp_id}:{settings.agent_id}:access_token"
        self._token_key, self._lock_key = name, f"{name}:lock"
        self._lock_ttl, self._lock_wait, self._poll = lock_ttl, lock_wait, poll_interval
        install_redaction()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def access_token(self) -> str:
        cached = await self._cached_token()
        return cached if cached else await self.refresh_token(stale=None)

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to `path` (e.g. "/cgi-bin/message/send"); errcode 0 or WeComApiError."""
        token = await self.access_token()
        result = await self._post_once(path, payload, token)
        if errcode(result) in TOKEN_ERRORS:
            log.info("wecom token rejected (errcode %s) on %s; refreshing", errcode(result), path)
            token = await self.refresh_token(stale=token)
            result = await self._post_once(path, payload, token)
        return checked(result)

    async def refresh_token(self, *, stale: str | None) -> str:
        """Fetch a token under the lock unless someone already replaced `stale` meanwhile."""
        lock = self._redis.lock(
            self._lock_key, timeout=self._lock_ttl, sleep=self._poll, thread_local=False
        )
        if not await lock.acquire(blocking=True, blocking_timeout=self._lock_wait):
            raise WeComUnavailable("wecom: timed out waiting for the access-token lock")
        try:
            cached = await self._cached_token()
            if cached and cached != stale:
                return cached
            token, expires_in = await self._fetch_token()
            ttl = max(expires_in - 300, expires_in // 2, 1)
            await self._redis.set(self._token_key, token, ex=ttl)
            log.info("wecom access token refreshed for agent %s", self.settings.agent_id)
            return token
        finally:
            with suppress(LockError):
                await lock.release()

    async def _cached_token(self) -> str | None:
        value = await self._redis.get(self._token_key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def _fetch_token(self) -> tuple[str, int]:
        params = {
            "corpid": self.settings.corp_id,
            "corpsecret": self.settings.secret.get_secret_value(),
        }
        url = f"{self.settings.api_base}/cgi-bin/gettoken"
        result = checked(await request_json(self._http, "GET", url, params=params))
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeComApiError(-2, "token answer without access_token")
        try:
            expires_in = int(result.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires_in = 7200
        return token, expires_in

    async def _post_once(self, path: str, payload: dict[str, Any], token: str) -> dict[str, Any]:
        url = f"{self.settings.api_base}{path}"
        return await request_json(
            self._http, "POST", url, params={"access_token": token}, json=payload
        )
