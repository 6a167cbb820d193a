"""One settings object, read from `INTAKE_*` variables and an optional TOML/YAML file.

Settings are built once at start-up and passed in; nothing reads the environment at import
time. The channels' sections and the notifier's stay loosely typed here (dicts) because the
core must not import the edges; the composition root's subclass (`service/settings.py`) types
each with its own model, so that one load validates them all at start-up.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from limits import parse_many
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from intake.domain.errors import ConfigurationError
from intake.integration_settings import IntegrationSettings
from intake.secret_key import GENERATE_HINT, short_secret_problem

Placement = Literal["auto", "inside", "child"]
PLACEMENTS: tuple[str, ...] = get_args(Placement)


class PipelineSettings(BaseModel):
    batch_size: int = 250  # the most one read takes; a backlog drains faster in larger batches
    # pipeline processes of `intake run`; more than one always run as child processes (with
    # SQLite, which has one writer, more than one gains nothing)
    processes: int = Field(default=1, ge=1, le=16)
    # Where `intake run` runs a single pipeline (the notifier goes with it). "auto": in a child
    # process on a machine with two or more cores, else inside: a child keeps the batches off
    # the core that answers HTTP (figures in bench/README.md).
    placement: Placement = "auto"
    block_ms: int = 1000
    # consumers that help a worker process's pipeline while a full batch is waiting (PostgreSQL
    # only: SQLite has one writer); not inside `intake run`, whose core answers HTTP
    backlog_helpers: int = Field(default=1, ge=0, le=4)
    # A read that finds only a few entries waits this long for more before processing: a
    # batch costs several milliseconds of CPU however small it is, so under a trickle of
    # webhooks (WeChat waits for each answer) batches of one or two kept every core busy.
    linger_ms: int = Field(default=10, ge=0, le=200)
    # "Only a few": fewer than this. Unset, 16 where the pipeline shares its process with HTTP
    # (`intake run` on one core, or placed inside), whose core each batch's fixed cost takes;
    # 4 in a process of its own, where waiting only adds latency (figures in bench/README.md).
    linger_below: int | None = Field(default=None, ge=0)
    max_attempts: int = 5
    claim_idle_ms: int = 30_000  # pending entries idle this long are taken over from a dead worker
    # /readyz answers 503 while the oldest message no pipeline has read yet is older than this
    ready_lag_s: float = Field(default=30.0, gt=0)
    flood_per_hour: int = 30  # messages from one sender per hour beyond which nothing is answered
    single_open_follow_up: list[str] = Field(default_factory=lambda: ["sms"])
    # channels answered through the notifier right after processing (WeChat answers passively)
    instant_reply_channels: list[str] = Field(default_factory=lambda: ["sms", "email", "telegram"])
    # channels whose edge never waits for the core's outcome (the web form has its number)
    no_outcome_channels: list[str] = Field(default_factory=lambda: ["web"])
    # a reply to one's own closed ticket within this many days reopens it (or is a follow-up on
    # it); later it is a new request that names the old ticket (intake/pipeline/closed_replies.py)
    closed_reply_window_days: int = Field(default=7, ge=0)
    closed_reply_action: Literal["reopen", "follow_up"] = "reopen"


class WebSettings(BaseModel):
    max_attachments: int = 5
    max_attachment_bytes: int = 10 * 1024 * 1024
    receipt_ttl_days: int = 30


class HttpSettings(BaseModel):
    """What the HTTP edge believes and accepts from a client."""

    # addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed; a
    # client elsewhere is its own address, whatever it claims
    trusted_proxies: list[str] = Field(default_factory=list)
    # the largest request body taken, attachments included; larger ones are answered 413
    max_body_bytes: int = Field(default=56 * 1024 * 1024, ge=1024)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry
        return [entry.strip() for entry in value]


class LimitsSettings(BaseModel):
    """Rate limits shared by every process through Redis (`intake/ratelimit/attempts.py`).

    Limits are in the `limits` notation, every part applying ("5/10minute;30/day"); an empty
    string turns one off. The defaults never slow a citizen: a person files a few requests a
    day, while offices and mobile carriers put many citizens behind one address.
    """

    enabled: bool = True
    # new requests from one address (web form and API)
    submissions_per_ip: str = "60/minute;600/hour;3000/day"
    # new requests of one sender: the phone given on the web, the Telegram user, the WeChat
    # openid (the requests a guided conversation files)
    submissions_per_sender: str = "5/10minute;30/day"
    # status lookups from one address (the API and the status page alike)
    lookups_per_ip: str = "30/minute;300/hour;1000/day"
    # failed lookups of one ticket number from anywhere: bounds a guess spread over many
    # addresses; a citizen's own successful lookups never count
    lookup_failures_per_number: str = "50/hour;200/day"
    # requests of one Open311 API key (submissions and lookups alike)
    api_key_requests: str = "120/minute;20000/day"
    # failed staff sign-ins (the console): per account name, then per address; over the
    # limit the account (or address) is locked out until the window frees a place
    signin_failures_per_account: str = "5/15minute;20/day"
    signin_failures_per_ip: str = "30/15minute;200/day"
    # failed lookups of one number from one address that may follow one another at once;
    # then each attempt waits, `lookup_delay_s` at first, doubling up to `lookup_delay_max_s`.
    # Keyed on the address and the number together: a stranger's guesses never lock out the
    # citizen asking from elsewhere.
    lookup_free_failures: int = Field(default=5, ge=1)
    lookup_delay_s: float = Field(default=1.0, gt=0)
    lookup_delay_max_s: int = Field(default=3600, ge=1)
    lookup_failure_memory_s: int = Field(default=86400, ge=60)  # failures forgotten after this
    # an HTTP answer that refuses waits this long first: a flood that waits for each answer
    # (most do) then sends a few requests a second instead of taking the HTTP core from others
    refusal_pause_s: float = Field(default=0.5, ge=0, le=10)

    @field_validator(
        "submissions_per_ip",
        "submissions_per_sender",
        "lookups_per_ip",
        "lookup_failures_per_number",
        "signin_failures_per_account",
        "signin_failures_per_ip",
        "api_key_requests",
    )
    @classmethod
    def _limits_notation(cls, value: str) -> str:
        if value.strip():
            parse_many(value)  # ValueError names the string that cannot be read
        return value.strip()


class RetentionSettings(BaseModel):
    """How long closed tickets keep personal data (`intake/privacy/retention.py`, `intake purge`).

    The ticket's facts (number, channel, type, category, department, district, status, times,
    deadlines, rating) are kept for statistics. A year after closure the raw messages,
    attachments and delivery details go: a citizen's later complaint about the handling comes
    within months, and the ticket still holds its text. After three years the free text goes too
    (content, title, address, contact, events' texts), the case file being kept that long.
    """

    enabled: bool = True  # the daily run inside `intake run` / `intake worker`
    closed_days: int = Field(default=365, ge=1)
    text_days: int = Field(default=3 * 365, ge=1)
    interval_hours: float = Field(default=24.0, gt=0)


class ConsoleSettings(BaseModel):
    """The staff console (`intake/console/`): sign-in sessions end after `idle_minutes`
    without a request; the cookie is `Secure` when the public URL is HTTPS (or the request
    came over HTTPS); `poll_seconds` is how often an open inbox asks for new tickets."""

    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    poll_seconds: int = Field(default=10, ge=2, le=600)


class CatalogSettings(BaseModel):
    departments_file: Path | None = None
    # the operator's folder of texts (`intake/texts/`): the same folder as
    # `notify.templates_dir`, either name sets both (`Settings._one_texts_folder`)
    replies_file: Path | None = None
    guided_file: Path | None = None  # what guided requests ask (`intake/data/guided.yaml`)


class TriageSettings(BaseModel):
    """Operator copies of the triage catalogues; unset means the shipped defaults."""

    enabled: bool = True
    emergency_file: Path | None = None
    out_of_scope_file: Path | None = None
    request_types_file: Path | None = None
    categories_file: Path | None = None
    kb_file: Path | None = None
    gazetteer_file: Path | None = None
    custom_dict_file: Path | None = None
    deadlines_file: Path | None = None
    special_service_file: Path | None = None
    holidays_override_file: Path | None = None
    repeats_file: Path | None = None
    # the learned category model: the data folder's active one, else the shipped default
    learned: bool = True
    model_check_seconds: float = Field(2.0, gt=0)  # how often workers look for a switch


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    environment: str = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "intake:"
    redis_fsync: str = "always"  # embedded Redis appendfsync: always | everysec
    # unset: generated once in the data folder (development only; `intake/secret_key.py`)
    secret_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    config_file: Path | None = None
    timezone: str = "Asia/Shanghai"
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    triage: TriageSettings = Field(default_factory=TriageSettings)
    wechat: dict[str, Any] = Field(default_factory=dict)
    email: dict[str, Any] = Field(default_factory=dict)
    sms: dict[str, Any] = Field(default_factory=dict)
    telegram: dict[str, Any] = Field(default_factory=dict)
    wecom: dict[str, Any] = Field(default_factory=dict)  # channels/wecom/settings.py
    notify: dict[str, Any] = Field(default_factory=dict)
    integration: IntegrationSettings = Field(default_factory=IntegrationSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls, env_settings)

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        if self.secret_key is None:
            if self.environment != "development":
                # processes of a deployment may not share a data folder to keep one in
                raise ConfigurationError(
                    "INTAKE_SECRET_KEY must be set outside development: " + GENERATE_HINT
                )
            return self
        problem = short_secret_problem(self.secret_key.get_secret_value())
        if problem:  # not a ValueError: pydantic's message would quote the value
            raise ConfigurationError(problem)
        return self

    @model_validator(mode="after")
    def _one_texts_folder(self) -> Settings:
        """Bot replies and notifications are one catalogue with one override folder, named by
        `INTAKE_NOTIFY__TEMPLATES_DIR` or its alias `INTAKE_CATALOG__REPLIES_FILE`."""
        section: Any = self.notify  # a dict here, the notifier's typed section in `service/`
        typed = not isinstance(section, dict)
        replies = self.catalog.replies_file
        notify = getattr(section, "templates_dir", None) if typed else section.get("templates_dir")
        if replies is not None and replies.is_file():
            raise ConfigurationError(
                f"INTAKE_CATALOG__REPLIES_FILE={replies} is a file: the replies are now "
                "templates in a folder (<lang>/<name>.j2, see intake/texts/); point "
                "INTAKE_NOTIFY__TEMPLATES_DIR or INTAKE_CATALOG__REPLIES_FILE at that folder"
            )
        if replies is not None and notify and Path(notify) != replies:
            raise ConfigurationError(
                "INTAKE_CATALOG__REPLIES_FILE and INTAKE_NOTIFY__TEMPLATES_DIR name one "
                f"folder of texts; they differ ({replies} and {notify})"
            )
        folder = replies or (Path(notify) if notify else None)
        if folder is not None:
            self.catalog.replies_file = folder
            if typed:
                section.templates_dir = folder
            else:
                section["templates_dir"] = str(folder)
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'intake.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


class _FileSource(PydanticBaseSettingsSource):
    """Reads `INTAKE_CONFIG_FILE` (TOML or YAML), below the environment in priority."""

    def __init__(self, settings_cls: type[BaseSettings], env: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self._env().get("config_file")
        return load_config_file(Path(path)) if path else {}


def load_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigurationError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file must hold a mapping: {path}")
    return {str(k).lower(): v for k, v in data.items()}


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
