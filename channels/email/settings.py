"""The `INTAKE_EMAIL__*` settings section: the mailbox we read (IMAP) and how we send (SMTP).

Secrets are `SecretStr` so that a settings dump or a validation error never prints them.
`imap_security` is `ssl` (implicit TLS, port 993), `starttls` (port 143, upgraded before
login) or `none` (plain text: only for a loopback test server). A processed mail is moved to
`processed_folder` (`move`; COPY + \\Deleted + UID EXPUNGE where the server lacks MOVE), copied
and deleted (`copy_delete`), or left in place and flagged \\Seen plus `processed_keyword`
(`flag`). `auto_reply_cap_per_hour` / `_per_day` bound our automatic answers to one address.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from channels.email.parse import DEFAULT_MAX_ATTACHMENT_BYTES
from channels.email.sender import Security, SmtpSettings

TWENTY_NINE_MINUTES = 29 * 60
_ATOM = re.compile(r"^[A-Za-z0-9$_.-]+$")  # an IMAP keyword must be a plain atom
_SMTP_SECURITY: dict[str, Security] = {
    "ssl": "tls",
    "tls": "tls",
    "starttls": "starttls",
    "none": "none",
}


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    address: str  # the mailbox citizens write to, e.g. 12345@city.gov.cn
    own_addresses: list[str] = Field(default_factory=list)  # other addresses we send from
    message_id_domain: str | None = None  # default: the address's domain

    imap_host: str = ""
    imap_port: int | None = None  # default: 993 for ssl, 143 otherwise
    imap_user: str = ""  # default: the address
    imap_password: SecretStr = SecretStr("")
    imap_security: Literal["ssl", "tls", "starttls", "none"] = "ssl"
    imap_ca_file: Path | None = None  # extra CA bundle (a private CA); default: the system's
    imap_validate_certs: bool = True
    imap_timeout: float = Field(default=30.0, gt=0)
    imap_folder: str = "INBOX"

    processed_action: Literal["move", "copy_delete", "flag"] = "move"
    processed_folder: str = "Processed"
    processed_keyword: str = "IntakeProcessed"

    use_idle: bool = True
    poll_interval: float = Field(default=60.0, gt=0)  # without IDLE
    idle_timeout: float = Field(default=25 * 60.0, gt=0, lt=TWENTY_NINE_MINUTES)
    fetch_batch: int = Field(default=200, ge=1, le=5000)
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=300.0, gt=0)
    max_attachment_bytes: int = Field(default=DEFAULT_MAX_ATTACHMENT_BYTES, ge=0)

    smtp_host: str = ""
    smtp_port: int | None = None  # default: 465 for ssl/tls, 587 for starttls, 25 for none
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["ssl", "tls", "starttls", "none"] = "starttls"
    smtp_from_name: str | None = None
    smtp_envelope_from: str | None = None  # may hold {ticket} (VERP)
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_validate_certs: bool = True
    # loop guard: automatic answers (acknowledgements, instant replies) to one address per
    # hour / per day beyond which nothing more is sent (cap.py); 0 turns a window off
    auto_reply_cap_per_hour: int = Field(default=5, ge=0)
    auto_reply_cap_per_day: int = Field(default=20, ge=0)

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        value = value.strip()
        if "@" not in value:
            raise ValueError("address must be an e-mail address")
        return value

    @field_validator("processed_keyword")
    @classmethod
    def _an_atom(cls, value: str) -> str:
        if not _ATOM.match(value) or value.startswith("\\"):
            raise ValueError("processed_keyword must be a plain IMAP atom (A-Z a-z 0-9 $ _ . -)")
        return value

    @model_validator(mode="after")
    def _sane_backoff(self) -> EmailSettings:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be below backoff_initial")
        return self

    @property
    def domain(self) -> str:
        return (self.message_id_domain or self.address.rpartition("@")[2]).lower()

    @property
    def own(self) -> frozenset[str]:
        return frozenset(a.strip().lower() for a in self.own_addresses if "@" in a)

    @property
    def login_user(self) -> str:
        return self.imap_user or self.address

    @property
    def imap_port_resolved(self) -> int:
        if self.imap_port:
            return self.imap_port
        return 993 if self.imap_security in ("ssl", "tls") else 143

    def imap_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for ssl/starttls; None for a plain connection."""
        if self.imap_security == "none":
            return None
        context = ssl.create_default_context(
            cafile=str(self.imap_ca_file) if self.imap_ca_file else None
        )
        if not self.imap_validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def smtp(self) -> SmtpSettings | None:
        """Settings for `SmtpSender`, or None when no SMTP server is configured."""
        if not self.smtp_host:
            return None
        security = _SMTP_SECURITY[self.smtp_security]
        default_port = {"tls": 465, "starttls": 587, "none": 25}[security]
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port or default_port,
            from_address=self.address,
            domain=self.domain,
            security=security,
            user=self.smtp_user or None,
            password=self.smtp_password.get_secret_value() or None,
            from_name=self.smtp_from_name,
            envelope_from=self.smtp_envelope_from,
            timeout=self.smtp_timeout,
            validate_certs=self.smtp_validate_certs,
        )
