"""The `INTAKE_WECOM__*` settings section: one WeCom (企业微信) corp and its self-built app.

`corp_id`, `agent_id` and `secret` let the service send application messages; `token` and
`aes_key` are the callback's (message encryption as WeCom specifies). Secrets are `SecretStr`
so that a settings dump or a validation error never prints them. `robot_hosts` lists the
hosts an operator allows for group-robot webhooks besides WeCom's own.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator

from intake.domain.errors import ConfigurationError

API_BASE = "https://qyapi.weixin.qq.com"


class WeComSettings(BaseModel):
    corp_id: str = Field(min_length=1)
    agent_id: int
    secret: SecretStr
    token: SecretStr = SecretStr("")  # callback signature token
    aes_key: SecretStr = SecretStr("")  # EncodingAESKey, 43 characters
    api_base: str = API_BASE
    robot_hosts: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_timestamp_age: int = Field(default=300, ge=1)  # callback timestamps older are refused
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    console_url: str = ""  # where "查看" cards link to; empty: the service's public URL + /console

    @field_validator("api_base", "console_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("robot_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if isinstance(value, str):  # INTAKE_WECOM__ROBOT_HOSTS=a.example,b.example:8443
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw:
            return value
        try:
            decoded = base64.b64decode(raw + "=", validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(raw) != 43 or len(decoded) != 32:  # not a ValueError quoting the value
            raise ValueError("aes_key must be WeCom's 43-character EncodingAESKey")
        return value

    @property
    def callback_enabled(self) -> bool:
        return bool(self.token.get_secret_value() and self.aes_key.get_secret_value())


def wecom_settings(raw: dict[str, Any]) -> WeComSettings | None:
    """The section from `settings.wecom`, or None when WeCom is not configured."""
    if not raw or not raw.get("corp_id"):
        return None
    try:
        return WeComSettings(**{str(k).lower(): v for k, v in raw.items()})
    except ValueError as exc:
        raise ConfigurationError(f"WeCom settings: {_safe(exc)}") from None


def _safe(exc: ValueError) -> str:
    """Pydantic's message without the input values (which may be secrets)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())
    return type(exc).__name__
