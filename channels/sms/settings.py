"""The `INTAKE_SMS__*` settings section.

One model for both gateway kinds so that switching from a self-hosted Kannel to a cloud
provider is a configuration change, not a code change. Secrets are `SecretStr` so that a
settings dump or a validation error never prints them.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

# Characters that survive Kannel's dlr-url escape translation untouched: anything with a '%'
# could be mistaken for one of Kannel's own %-escape codes.
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]*$")


SENDSMS_PATH = "/cgi-bin/sendsms"


def smsbox_base_url(url: str) -> str:
    """smsbox's base URL (`http://host:13013`) from itself or from the full sendsms URL
    (`http://host:13013/cgi-bin/sendsms`, as Kannel's documentation names it)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("must be smsbox's http:// URL, e.g. http://127.0.0.1:13013")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query: set INTAKE_SMS__KANNEL_USER and __PASSWORD")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValueError("has a port that is not a number") from exc
    path = parts.path.rstrip("/")
    if path.endswith(SENDSMS_PATH):
        path = path[: -len(SENDSMS_PATH)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class TemplateSpec(BaseModel):
    """An approved provider template and how our message params fill it.

    `params` maps the provider's variable name to the key in `OutboundMessage.params` (Aliyun's
    `${name}`); for Tencent the order of `params` gives `{1}`, `{2}`, ... An empty mapping passes
    the message params through unchanged.
    """

    code: str
    params: dict[str, str] = Field(default_factory=dict)


class SmsSettings(BaseModel):
    provider: Literal["kannel", "aliyun", "tencent"] = "kannel"

    # Kannel smsbox (sendsms) and the callbacks it makes to us
    kannel_url: str = "http://127.0.0.1:13013"
    kannel_user: str = ""
    kannel_password: SecretStr = SecretStr("")
    kannel_smsc: str = ""  # optional smsc-id to route through
    inbound_secret: SecretStr = SecretStr("")  # carried by get-url and dlr-url
    allowed_ips: list[str] = Field(default_factory=list)  # empty: any address
    public_url: str = ""  # our externally reachable base URL, for the dlr-url
    # delivered 1 + failed 2 + buffered 4 + rejected 16: what staff see. Not the SMSC's own
    # ACK (8), which would double the callbacks (and their load) for nothing shown.
    dlr_mask: int = Field(default=23, ge=0, le=63)

    # What the citizen sees
    sender: str = ""  # the hotline's number, e.g. "12345"
    signature: str = ""  # 【…】 signature, with or without the brackets
    max_segments: int = Field(default=3, ge=1, le=10)

    # Cloud providers (Aliyun Dysmsapi or Tencent Cloud SMS)
    api_base: str = ""  # empty: the provider's public endpoint
    access_key_id: str = ""
    access_key_secret: SecretStr = SecretStr("")
    region: str = "cn-hangzhou"  # Aliyun RegionId; Tencent uses e.g. "ap-guangzhou"
    sdk_app_id: str = ""  # Tencent SmsSdkAppId
    templates: dict[str, TemplateSpec] = Field(default_factory=dict)
    default_template: str = ""  # used when a message names no template (e.g. {content})

    # Throughput
    rate_per_second: float = Field(default=100.0, gt=0)
    burst: int = Field(default=20, ge=1)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=32, ge=1)  # keep-alive connections to smsbox
    # gateway callbacks (MO, DLR) handled at once per process; more wait their turn. A gateway
    # fires hundreds at once, and a refused one is lost (Kannel does not retry by default).
    max_inflight_callbacks: int = Field(default=32, ge=1)

    @field_validator("inbound_secret")
    @classmethod
    def _secret_url_safe(cls, value: SecretStr) -> SecretStr:
        if not URL_SAFE.match(value.get_secret_value()):
            raise ValueError("inbound_secret must use only A-Z a-z 0-9 . _ ~ - (Kannel escapes %)")
        return value

    @field_validator("public_url", "api_base")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("kannel_url")
    @classmethod
    def _smsbox_base(cls, value: str) -> str:
        return smsbox_base_url(value)

    @property
    def signature_text(self) -> str:
        """The signature as printed in the SMS: always bracketed 【…】, or empty."""
        sig = self.signature.strip().strip("【】").strip()
        return f"【{sig}】" if sig else ""

    def sender_problem(self) -> str | None:
        """Why no sender can be built from these settings, or None: checked when the settings
        load, so that a missing setting stops the start rather than the first connector."""
        if self.provider == "kannel" and not (self.kannel_user and self.public_url):
            return "SMS via Kannel needs KANNEL_USER and PUBLIC_URL"
        if self.provider == "aliyun" and not (
            self.access_key_id and self.signature and self.templates
        ):
            return "Aliyun SMS needs ACCESS_KEY_ID, SIGNATURE and TEMPLATES"
        if self.provider == "tencent":
            return f"SMS provider {self.provider!r} is not implemented"
        return None
