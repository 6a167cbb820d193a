"""The whole settings: the core's, with each channel's section and the notifier's typed.

The core keeps these sections plain dicts because it may not import the edges; here, where
everything is wired, they get their own models, so one load validates every setting at
start-up and a wrong one is refused with a line that names it (`INTAKE_WECHAT__TOKEN: Field
required`) before anything starts. Variable names and the config file stay what the core
reads. A channel section is there when its key setting is (the mailbox's address, the bot's
token, the corp id; for SMS and WeChat any setting); absent, the channel is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from channels.email.settings import EmailSettings
from channels.open311.partner_codes import check_partner_codes
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.wechat.settings import WeChatSection
from channels.wecom.settings import WeComSettings
from intake.config import Settings
from intake.domain.errors import ConfigurationError
from intake.preflight import validation_lines
from notifier.settings import NotifierSettings


def _section(key: str | None) -> BeforeValidator:
    """What the user wrote, keys lower-cased like the environment's; None when the section
    (or, with `key`, that setting) is not written: the channel is off."""

    def given(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        raw = {str(k).lower(): v for k, v in value.items()}
        if not raw or (key is not None and not raw.get(key)):
            return None
        return raw

    return BeforeValidator(given)


WeChat = Annotated[WeChatSection | None, _section(None)]
Sms = Annotated[SmsSettings | None, _section(None)]
Email = Annotated[EmailSettings | None, _section("address")]
Telegram = Annotated[TelegramSettings | None, _section("token")]
WeCom = Annotated[WeComSettings | None, _section("corp_id")]


class ServiceSettings(Settings):
    """The core's `Settings` with the sections it keeps as dicts typed (hence the ignores:
    a subclass narrows what the core leaves open)."""

    wechat: WeChat = None  # type: ignore[assignment]
    sms: Sms = None  # type: ignore[assignment]
    email: Email = None  # type: ignore[assignment]
    telegram: Telegram = None  # type: ignore[assignment]
    wecom: WeCom = None  # type: ignore[assignment]
    notify: NotifierSettings = Field(default_factory=NotifierSettings)  # type: ignore[assignment]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _SectionsAsWritten(settings_cls)
        return super().settings_customise_sources(
            settings_cls, init_settings, env, dotenv_settings, file_secret_settings
        )

    @model_validator(mode="after")
    def _sms_calls_back_here(self) -> ServiceSettings:
        """Kannel's delivery reports come back to the service's own URL unless told otherwise;
        the provider's settings are complete (what the sender would refuse later)."""
        if self.sms is not None and "public_url" not in self.sms.model_fields_set:
            self.sms = self.sms.model_copy(update={"public_url": self.public_url.rstrip("/")})
        if self.sms is not None and (problem := self.sms.sender_problem()):
            raise ConfigurationError(f"INTAKE_SMS: {problem}")  # no field to name: a pair
        return self


SECTIONS = ("wechat", "sms", "email", "telegram", "wecom", "notify")


class _SectionsAsWritten(EnvSettingsSource):
    """Reads the sections' variables as the core does, each value the text written: the
    sections' models parse it (`INTAKE_NOTIFY__QUIET_HOURS=21:00-08:00`,
    `INTAKE_WECOM__ROBOT_HOSTS=a,b`), where reading them as typed fields would take a text
    for JSON first and refuse it."""

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        if field_name in SECTIONS:
            field = Settings.model_fields[field_name]
        return super().prepare_field_value(field_name, field, value, value_is_complex)


class _GivenValues(ServiceSettings):
    """The values given, and nothing from the environment or a config file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(**overrides: Any) -> ServiceSettings:
    """Every setting from `INTAKE_*` variables and the config file, each section validated;
    a problem is a `ConfigurationError` caused by pydantic's error, which names the setting."""
    try:
        settings = ServiceSettings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError("; ".join(validation_lines(exc))) from exc
    check_partner_codes(settings)  # an Open311 partner's code must name one of our services
    return settings


def service_settings(settings: Settings) -> ServiceSettings:
    """The typed whole of settings built by the core's own model (tests, benchmarks): the
    same values, each section validated now."""
    if isinstance(settings, ServiceSettings):
        return settings
    try:
        return _GivenValues(**dict(settings))
    except ValidationError as exc:
        raise ConfigurationError("; ".join(validation_lines(exc))) from exc
