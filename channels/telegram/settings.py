"""Configuration of the Telegram bot, validated from the loose `INTAKE_TELEGRAM__*` section.

One bot serves citizens and staff: staff link their chat with `/link CODE` and then get staff
buttons, so operators register (and protect) a single token. The Bot API base URL is a setting
so that a self-hosted `telegram-bot-api` server, or a test fake, can stand in for Telegram.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from intake.domain.errors import ConfigurationError

Mode = Literal["webhook", "polling"]
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts as secret_token


class TelegramSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    api_base: str = "https://api.telegram.org"
    secret_token: SecretStr | None = None
    mode: Mode = "webhook"
    reply_wait_s: float = Field(default=4.0, ge=0)  # how long the bot waits for the outcome
    polling_timeout: int = Field(default=25, ge=0, le=50)
    link_code_ttl_s: int = Field(default=600, ge=30)
    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)  # Bot API download limit
    dedupe_ttl_s: int = Field(default=86_400, ge=60)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        """aiogram refuses a malformed token at the first call; refuse it at start-up."""
        if not _TOKEN.match(value.get_secret_value()):
            raise ValueError("a bot token looks like <digits>:<letters>")
        return value

    @field_validator("secret_token")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _SECRET.match(value.get_secret_value()):
            raise ValueError("secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramSettings:
        """Without the secret anyone who guesses the URL could post forged updates."""
        if self.mode == "webhook" and self.secret_token is None:
            raise ValueError("webhook mode needs secret_token (X-Telegram-Bot-Api-Secret-Token)")
        return self

    @property
    def bot_id(self) -> int:
        return int(self.token.get_secret_value().split(":", 1)[0])


def telegram_settings(raw: dict[str, Any]) -> TelegramSettings | None:
    """The validated section, or None when Telegram is not configured (no token)."""
    if not raw or not raw.get("token"):
        return None
    try:
        return TelegramSettings(**{str(k).lower(): v for k, v in raw.items()})
    except ValueError as exc:
        raise ConfigurationError(f"Telegram settings: {exc}") from exc
