"""Configuration of the WeChat official accounts the hotline answers on.

Several accounts can be configured (a city's account and its districts'); each one has its own
secrets and its own citizens, so the account's app id is part of every citizen identity. The
models are plain pydantic models so that the core can nest them in its `INTAKE_WECHAT__…`
settings without this package depending on how settings are loaded.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Mode = Literal["plaintext", "compatible", "safe"]
TokenApi = Literal["token", "stable_token"]


class WeChatTemplate(BaseModel):
    """One approved template: its id and how `OutboundMessage` values fill its data keys.

    `fields` maps a WeChat data key (e.g. "thing1") to a source name: a key of
    `OutboundMessage.params`, or one of "text", "ticket_number", "subject".
    """

    model_config = ConfigDict(frozen=True)

    template_id: str
    fields: dict[str, str] = Field(default_factory=dict)
    url: str | None = None


class WeChatAccount(BaseModel):
    """One official account (公众号) as configured in the WeChat admin console."""

    model_config = ConfigDict(frozen=True)

    app_id: str = Field(min_length=1)
    app_secret: SecretStr
    token: SecretStr
    aes_key: SecretStr | None = None
    aes_key_previous: SecretStr | None = None
    original_id: str = ""  # gh_…, the ToUserName of inbound messages; checked when set
    mode: Mode = "plaintext"
    api_base: str = "https://api.weixin.qq.com"
    token_api: TokenApi = "token"
    templates: dict[str, WeChatTemplate] = Field(default_factory=dict)
    default_template: str | None = None  # used when an OutboundMessage names no template
    max_timestamp_age: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("aes_key", "aes_key_previous")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """Refuse a malformed EncodingAESKey at start-up rather than on the first message."""
        if value is None or not value.get_secret_value():
            return None
        raw = value.get_secret_value()
        if len(raw) != 43:
            raise ValueError("an EncodingAESKey has 43 characters")
        try:
            decoded = base64.b64decode(raw + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("an EncodingAESKey is base64 without padding") from exc
        if len(decoded) != 32:
            raise ValueError("an EncodingAESKey decodes to 32 bytes")
        return value

    @model_validator(mode="after")
    def _default_template_exists(self) -> WeChatAccount:
        if self.default_template and self.default_template not in self.templates:
            raise ValueError(f"default_template {self.default_template!r} is not configured")
        return self

    @field_validator("api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _encrypted_modes_need_a_key(self) -> WeChatAccount:
        if self.mode != "plaintext" and self.aes_key is None:
            raise ValueError(f"mode {self.mode!r} needs aes_key (the EncodingAESKey)")
        return self

    def aes_keys(self) -> list[str]:
        """The current key first, then the previous one, as WeChat's FAQ asks."""
        keys = [k.get_secret_value() for k in (self.aes_key, self.aes_key_previous) if k]
        return list(dict.fromkeys(keys))


class WeChatSettings(BaseModel):
    """All configured accounts; the core nests this under its own settings."""

    model_config = ConfigDict(frozen=True)

    accounts: list[WeChatAccount] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_app_ids(self) -> WeChatSettings:
        ids = [a.app_id for a in self.accounts]
        if len(ids) != len(set(ids)):
            raise ValueError("two WeChat accounts share one app_id")
        return self

    def by_app_id(self, app_id: str) -> WeChatAccount | None:
        return next((a for a in self.accounts if a.app_id == app_id), None)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


class DialogSettings(BaseModel):
    """The guided conversation (`INTAKE_WECHAT__DIALOG__…`): on/off, timeout, rules file."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    timeout: float = Field(default=600.0, gt=0)  # seconds; "10m", "90s", "1h" accepted
    rules_file: Path | None = None  # default: `catalog.guided_file`, else the shipped one
    sweep_interval: float = Field(default=5.0, gt=0)  # seconds between sweeps for timeouts

    @field_validator("timeout", "sweep_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str) and (found := _DURATION.fullmatch(value.strip().lower())):
            return float(found.group(1)) * _UNIT[found.group(2)]
        return value


class ChannelOptions(BaseModel):
    """Settings of the channel itself, beside the accounts (the same for every account)."""

    model_config = ConfigDict(frozen=True)

    reply_wait_s: float = Field(default=4.0, gt=0, lt=5)  # inside WeChat's 5-second window
    dialog: DialogSettings = Field(default_factory=DialogSettings)
    fetch_media: bool = True  # download voice and image media into attachment storage

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ChannelOptions:
        return cls.model_validate({k: raw[k] for k in cls.model_fields if k in raw})


class WeChatSection(ChannelOptions):
    """The whole `INTAKE_WECHAT__…` section: the channel's options beside its accounts.

    One account is written flat (`INTAKE_WECHAT__APP_ID`, `__TOKEN`, …), several as the config
    file's `accounts`; a flat account's errors name its own variables (`INTAKE_WECHAT__TOKEN`).
    Without either the section holds only options and the channel stays off.
    """

    accounts: list[WeChatAccount] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flat_account(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "accounts" in data:
            return data
        options = {k: v for k, v in data.items() if k in ChannelOptions.model_fields}
        if not data.get("app_id"):
            return options
        flat = {k: v for k, v in data.items() if k not in ChannelOptions.model_fields}
        return {**options, "accounts": [WeChatAccount.model_validate(flat)]}

    @model_validator(mode="after")
    def _unique_app_ids(self) -> WeChatSection:
        self.settings  # noqa: B018 - WeChatSettings refuses two accounts with one app_id
        return self

    @property
    def settings(self) -> WeChatSettings:
        return WeChatSettings(accounts=self.accounts)

    @property
    def options(self) -> ChannelOptions:
        fields = ChannelOptions.model_fields
        return ChannelOptions.model_validate({k: getattr(self, k) for k in fields})
