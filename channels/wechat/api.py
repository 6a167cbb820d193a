"""Async client for the WeChat server API, with one shared access token per account.

WeChat invalidates the previous access token (after a 5-minute grace) whenever a new one is
fetched, so uncoordinated workers refreshing at will would keep invalidating each other. The
token therefore lives in Redis and only the holder of a Redis lock fetches a new one; everybody
else waits and re-reads. A call answered with a stale-token errcode (40001/42001/40014) refreshes
once, past that exact token, and is retried once. HTTP is httpx, never blocking the event loop.
"""

from __future__ import annotations

import json
import logging
import re
from contextlib import suppress
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import LockError

from .settings import WeChatAccount

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
_REDACT = re.compile(r"(access_token|secret)=[^&\s\"']+")


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode (or an answer that is not WeChat's JSON)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"wechat errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """WeChat could not be reached, answered 5xx/429, or the token lock was not obtained."""


class RedactSecrets(logging.Filter):
    """Keeps access tokens and app secrets out of httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message or "secret=" in message:
            record.msg, record.args = _REDACT.sub(r"\1=***", message), ()
        return True


def install_redaction() -> None:
    """Idempotently attach the redaction filter to httpx's logger."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSecrets) for f in httpx_log.filters):
        httpx_log.addFilter(RedactSecrets())


class WeChatApiClient:
    """One account's API client; safe to use from many coroutines and many processes."""

    def __init__(
        self,
        account: WeChatAccount,
        *,
        redis: Redis,
        key_prefix: str,
        http: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        lock_ttl: float = 15.0,
        lock_wait: float = 20.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.account = account
        self._redis = redis
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._token_key = f"{key_prefix}wechat:{account.app_id}:access_token"
        self._lock_key = f"{key_prefix}wechat:{account.app_id}:access_token:lock"
        self._lock_ttl, self._lock_wait, self._poll = lock_ttl, lock_wait, poll_interval
        install_redaction()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def access_token(self) -> str:
        """The cached token, or a freshly fetched one (one fetch across all processes)."""
        cached = await self._cached_token()
        return cached if cached else await self.refresh_token(stale=None)

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to `path` (e.g. "/cgi-bin/message/custom/send"); errcode 0 or raise."""
        token = await self.access_token()
        result = await self._post_once(path, payload, token)
        if _errcode(result) in TOKEN_ERRORS:
            log.info("wechat token rejected (errcode %s) on %s; refreshing", _errcode(result), path)
            token = await self.refresh_token(stale=token)
            result = await self._post_once(path, payload, token)
        return _checked(result)

    async def get_media(self, media_id: str, *, max_bytes: int) -> tuple[bytes, str]:
        """Temporary media a citizen sent (voice, image): its bytes and content type.

        WeChat answers an unknown or expired media id (3 days) with JSON, errcode 40007.
        """
        token = await self.access_token()
        answer = await self._media_once(media_id, token, max_bytes)
        if isinstance(answer, dict) and _errcode(answer) in TOKEN_ERRORS:
            token = await self.refresh_token(stale=token)
            answer = await self._media_once(media_id, token, max_bytes)
        if isinstance(answer, dict):
            _checked(answer)
            raise WeChatApiError(-2, "media answer without content")
        return answer

    async def refresh_token(self, *, stale: str | None) -> str:
        """Fetch a token under the lock unless someone already replaced `stale` meanwhile."""
        lock = self._redis.lock(
            self._lock_key, timeout=self._lock_ttl, sleep=self._poll, thread_local=False
        )
        if not await lock.acquire(blocking=True, blocking_timeout=self._lock_wait):
            raise WeChatUnavailable("wechat: timed out waiting for the access-token lock")
        try:
            cached = await self._cached_token()
            if cached and cached != stale:
                return cached
            token, expires_in = await self._fetch_token(force=stale is not None)
            ttl = max(expires_in - 300, expires_in // 2, 1)
            await self._redis.set(self._token_key, token, ex=ttl)
            log.info("wechat access token refreshed for %s (valid %ss)", self.account.app_id, ttl)
            return token
        finally:
            with suppress(LockError):
                await lock.release()

    async def _cached_token(self) -> str | None:
        value = await self._redis.get(self._token_key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        base, secret = self.account.api_base, self.account.app_secret.get_secret_value()
        if self.account.token_api == "stable_token":
            body = {
                "grant_type": "client_credential",
                "appid": self.account.app_id,
                "secret": secret,
                "force_refresh": force,
            }
            result = await self._request("POST", f"{base}/cgi-bin/stable_token", json=body)
        else:
            params = {
                "grant_type": "client_credential",
                "appid": self.account.app_id,
                "secret": secret,
            }
            result = await self._request("GET", f"{base}/cgi-bin/token", params=params)
        result = _checked(result)
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(-2, "token answer without access_token")
        return token, _int(result.get("expires_in"), 7200)

    async def _post_once(self, path: str, payload: dict[str, Any], token: str) -> dict[str, Any]:
        url = f"{self.account.api_base}{path}"
        return await self._request("POST", url, params={"access_token": token}, json=payload)

    async def _media_once(
        self, media_id: str, token: str, max_bytes: int
    ) -> dict[str, Any] | tuple[bytes, str]:
        url = f"{self.account.api_base}/cgi-bin/media/get"
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self._http.stream("GET", url, params=params) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise WeChatUnavailable(f"wechat answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise WeChatApiError(-3, f"media larger than {max_bytes} bytes")
                kind = response.headers.get("content-type", "").split(";")[0].strip()
        except httpx.HTTPError as exc:
            raise WeChatUnavailable(f"wechat unreachable: {type(exc).__name__}") from None
        if kind in ("application/json", "text/plain") or body.startswith(b'{"errcode"'):
            return _json_or_error(bytes(body))
        return bytes(body), kind or "application/octet-stream"

    async def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise WeChatUnavailable(f"wechat unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise WeChatUnavailable(f"wechat answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            raise WeChatApiError(-2, f"unexpected answer (HTTP {response.status_code})")
        return data


def _errcode(result: dict[str, Any]) -> int:
    return _int(result.get("errcode"), 0)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _checked(result: dict[str, Any]) -> dict[str, Any]:
    code = _errcode(result)
    if code != 0:
        raise WeChatApiError(code, str(result.get("errmsg", "")))
    return result


def _json_or_error(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"errcode": -2, "errmsg": "unexpected answer"}
