"""Async client for the WeChat server API, with one shared access token per account.

WeChat invalidates the previous access token (after a 5-minute grace) whenever a new one is
fetched, so uncoordinated workers refreshing at will would keep invalidating each other: the
token is kept by the shared `TokenCache` (`channels.provider_api`), and a call answered with a
stale-token errcode (40001/42001/40014) refreshes once and is retried once. HTTP is httpx,
never blocking the event loop.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from redis.asyncio import Redis

from channels.provider_api import (
    Provider,
    ProviderApiError,
    ProviderUnavailable,
    RedactSecrets,
    TokenCache,
)
from channels.provider_api import install_redaction as _install
from intake.redis.keys import Keys

from .settings import WeChatAccount

__all__ = [
    "TOKEN_ERRORS",
    "RedactSecrets",
    "WeChatApiClient",
    "WeChatApiError",
    "WeChatUnavailable",
    "install_redaction",
]

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
SECRET_PARAMS = ("access_token", "secret")


class WeChatApiError(ProviderApiError):
    """WeChat answered with a non-zero errcode (or an answer that is not WeChat's JSON)."""

    provider = "wechat"
    unreadable = 0  # an errcode that is not a number is not taken for an error


class WeChatUnavailable(ProviderUnavailable):
    """WeChat could not be reached, answered 5xx/429, or the token lock was not obtained."""


WECHAT = Provider("wechat", WeChatApiError, WeChatUnavailable, TOKEN_ERRORS)


def install_redaction() -> None:
    """Idempotently keep access tokens and app secrets out of httpx's request log lines."""
    _install(SECRET_PARAMS)


class WeChatApiClient:
    """One account's API client; safe to use from many coroutines and many processes."""

    def __init__(
        self,
        account: WeChatAccount,
        *,
        redis: Redis,
        keys: Keys,
        http: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        lock_ttl: float = 15.0,
        lock_wait: float = 20.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.account = account
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._tokens = TokenCache(
            WECHAT,
            redis=redis,
            key=keys.access_token("wechat", account.app_id),
            fetch=self._fetch_token,
            label=account.app_id,
            lock_ttl=lock_ttl,
            lock_wait=lock_wait,
            poll_interval=poll_interval,
        )
        install_redaction()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def access_token(self) -> str:
        """The cached token, or a freshly fetched one (one fetch across all processes)."""
        return await self._tokens.get()

    async def refresh_token(self, *, stale: str | None) -> str:
        """Fetch a token under the lock unless someone already replaced `stale` meanwhile."""
        return await self._tokens.refresh(stale=stale)

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to `path` (e.g. "/cgi-bin/message/custom/send"); errcode 0 or raise."""

        async def once(token: str) -> dict[str, Any]:
            url = f"{self.account.api_base}{path}"
            params = {"access_token": token}
            return await WECHAT.request_json(self._http, "POST", url, params=params, json=payload)

        return WeChatApiError.check(await self._tokens.call(once, what=path))

    async def get_media(self, media_id: str, *, max_bytes: int) -> tuple[bytes, str]:
        """Temporary media a citizen sent (voice, image): its bytes and content type.

        WeChat answers an unknown or expired media id (3 days) with JSON, errcode 40007.
        """

        async def once(token: str) -> dict[str, Any] | tuple[bytes, str]:
            return await self._media_once(media_id, token, max_bytes)

        answer = await self._tokens.call(once, what="/cgi-bin/media/get")
        if isinstance(answer, dict):
            WeChatApiError.check(answer)
            raise WeChatApiError(-2, "media answer without content")
        return answer

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
        base, secret = self.account.api_base, self.account.app_secret.get_secret_value()
        if self.account.token_api == "stable_token":
            body = {
                "grant_type": "client_credential",
                "appid": self.account.app_id,
                "secret": secret,
                "force_refresh": force,
            }
            request = WECHAT.request_json(
                self._http, "POST", f"{base}/cgi-bin/stable_token", json=body
            )
        else:
            params = {
                "grant_type": "client_credential",
                "appid": self.account.app_id,
                "secret": secret,
            }
            request = WECHAT.request_json(self._http, "GET", f"{base}/cgi-bin/token", params=params)
        result = WeChatApiError.check(await request)
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(-2, "token answer without access_token")
        return token, _int(result.get("expires_in"), 7200)

    async def _media_once(
        self, media_id: str, token: str, max_bytes: int
    ) -> dict[str, Any] | tuple[bytes, str]:
        url = f"{self.account.api_base}/cgi-bin/media/get"
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self._http.stream("GET", url, params=params) as response:
                WECHAT.refuse_busy(response.status_code)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise WeChatApiError(-3, f"media larger than {max_bytes} bytes")
                kind = response.headers.get("content-type", "").split(";")[0].strip()
        except httpx.HTTPError as exc:
            raise WECHAT.unreachable(exc) from None
        if kind in ("application/json", "text/plain") or body.startswith(b'{"errcode"'):
            return _json_or_error(bytes(body))
        return bytes(body), kind or "application/octet-stream"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _json_or_error(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"errcode": -2, "errmsg": "unexpected answer"}
