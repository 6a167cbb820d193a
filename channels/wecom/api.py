"""Async client for WeCom's server API (`gettoken`, `message/send`), one token per app.

Many workers share one token instead of each fetching their own (WeCom limits `gettoken`
calls): it is kept by the shared `TokenCache` (`channels.provider_api`), and a call answered
with a stale-token errcode (40014 invalid, 42001 expired) refreshes once and is retried once.
HTTP is httpx.
"""

from __future__ import annotations

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

from .settings import WeComSettings

__all__ = [
    "TOKEN_ERRORS",
    "RedactSecrets",
    "WeComApiError",
    "WeComClient",
    "WeComUnavailable",
    "checked",
    "errcode",
    "install_redaction",
    "request_json",
]

TOKEN_ERRORS = frozenset({40014, 42001})
SECRET_PARAMS = ("access_token", "corpsecret", "key")


class WeComApiError(ProviderApiError):
    """WeCom answered with a non-zero errcode (or with something that is not its JSON)."""

    provider = "wecom"
    shown = 200


class WeComUnavailable(ProviderUnavailable):
    """WeCom could not be reached, answered 5xx/429, or the token lock was not obtained."""


WECOM = Provider("wecom", WeComApiError, WeComUnavailable, TOKEN_ERRORS)
request_json = WECOM.request_json
errcode = WeComApiError.errcode_of
checked = WeComApiError.check


def install_redaction() -> None:
    """Keep access tokens, the app secret and robot keys out of httpx's request log lines."""
    _install(SECRET_PARAMS)


class WeComClient:
    """The app's API client; safe to use from many coroutines and many processes."""

    def __init__(
        self,
        settings: WeComSettings,
        *,
        redis: Redis,
        keys: Keys,
        http: httpx.AsyncClient | None = None,
        lock_ttl: float = 15.0,
        lock_wait: float = 20.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_http = http is None
        self._tokens = TokenCache(
            WECOM,
            redis=redis,
            key=keys.access_token("wecom", f"{settings.corp_id}:{settings.agent_id}"),
            fetch=self._fetch_token,
            label=f"agent {settings.agent_id}",
            lock_ttl=lock_ttl,
            lock_wait=lock_wait,
            poll_interval=poll_interval,
        )
        install_redaction()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def access_token(self) -> str:
        return await self._tokens.get()

    async def refresh_token(self, *, stale: str | None) -> str:
        """Fetch a token under the lock unless someone already replaced `stale` meanwhile."""
        return await self._tokens.refresh(stale=stale)

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to `path` (e.g. "/cgi-bin/message/send"); errcode 0 or WeComApiError."""

        async def once(token: str) -> dict[str, Any]:
            url = f"{self.settings.api_base}{path}"
            params = {"access_token": token}
            return await request_json(self._http, "POST", url, params=params, json=payload)

        return checked(await self._tokens.call(once, what=path))

    async def _fetch_token(self, force: bool) -> tuple[str, int]:
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
