"""The typed settings of the composition root: every channel's section and the notifier's are
validated when the settings load, a bad one stops the command with one line naming it, and the
connectors get the section as validated."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import pytest

from channels.email.settings import EmailSettings
from channels.sms.settings import SmsSettings
from channels.telegram.settings import TelegramSettings
from channels.wechat.settings import WeChatSection
from channels.wecom.settings import WeComSettings
from intake.config import Settings
from intake.domain.errors import ConfigurationError
from intake.runtime import Runtime
from notifier.config import load_notify_settings
from notifier.settings import NotifierSettings
from notifier.staff_alerts import load_staff_alert_settings
from service.connectors import build_connectors
from service.settings import ServiceSettings, load_settings, service_settings
from service.wiring import open_runtime
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:AAE-test_token"
AES_KEY = "a" * 43
WECHAT = {
    "INTAKE_WECHAT__APP_ID": "wx1",
    "INTAKE_WECHAT__APP_SECRET": "s3",
    "INTAKE_WECHAT__TOKEN": "t",
}


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("INTAKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path / "data"))


def _intake(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    clean.update({"INTAKE_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# (command, settings, the variable named, words of the reason)
BAD_SECTIONS = [
    ("run", {**WECHAT, "INTAKE_WECHAT__AES_KEY": "short-secret"}, "INTAKE_WECHAT__AES_KEY", "43"),
    ("worker", {"INTAKE_SMS__PROVIDER": "twilio"}, "INTAKE_SMS__PROVIDER", "'kannel'"),
    ("run", {"INTAKE_SMS__SENDER": "12345"}, "INTAKE_SMS", "KANNEL_USER"),  # what sends is missing
    ("db", {"INTAKE_EMAIL__ADDRESS": "hotline.example"}, "INTAKE_EMAIL__ADDRESS", "e-mail"),
    (
        "worker",
        {
            "INTAKE_TELEGRAM__TOKEN": TOKEN,
            "INTAKE_TELEGRAM__MODE": "polling",
            "INTAKE_TELEGRAM__POLLING_TIMEOUT": "99",
        },
        "INTAKE_TELEGRAM__POLLING_TIMEOUT",
        "50",
    ),
    (
        "run",
        {
            "INTAKE_WECOM__CORP_ID": "ww1",
            "INTAKE_WECOM__AGENT_ID": "x",
            "INTAKE_WECOM__SECRET": "s",
        },
        "INTAKE_WECOM__AGENT_ID",
        "integer",
    ),
    ("db", {"INTAKE_NOTIFY__STAFF__DIGEST_TOP": "0"}, "INTAKE_NOTIFY__STAFF__DIGEST_TOP", "1"),
    (
        "worker",
        {"INTAKE_NOTIFY__BRIEFINGS__DAILY_AT": "25:00"},
        "INTAKE_NOTIFY__BRIEFINGS__DAILY_AT",
        "time",
    ),
    (  # an Open311 partner's code mapped to a service the catalogue does not have
        "worker",
        {"INTAKE_INTEGRATION__OPEN311_SERVICE_CODES": '{"city-app": {"POT-01": "no-such"}}'},
        "INTAKE_INTEGRATION__OPEN311_SERVICE_CODES",
        "POT-01 -> no-such",
    ),
]


@pytest.mark.parametrize(("command", "env", "variable", "reason"), BAD_SECTIONS)
def test_a_bad_section_stops_the_command_with_one_line(
    tmp_path: Path, command: str, env: dict[str, str], variable: str, reason: str
) -> None:
    args = {"db": ["db", "upgrade"], "worker": ["worker"]}.get(command, [command, "--port", "1"])
    done = _intake(*args, tmp_path=tmp_path, **env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"{variable}: ") and reason in line, line
    assert "short-secret" not in line  # a secret's value is never printed
    assert not (tmp_path / "data" / "redis").exists()  # nothing was started


def test_bad_settings_of_several_sections_one_line_each(tmp_path: Path) -> None:
    done = _intake(
        "worker",
        tmp_path=tmp_path,
        INTAKE_WECHAT__APP_ID="wx1",
        INTAKE_SMS__DLR_MASK="640",
        INTAKE_NOTIFY__SURVEY_DELAY="soon",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    named = sorted(line.split(":")[0] for line in done.stderr.strip().splitlines())
    assert named == [
        "INTAKE_NOTIFY__SURVEY_DELAY",
        "INTAKE_SMS__DLR_MASK",
        "INTAKE_WECHAT__APP_SECRET",
        "INTAKE_WECHAT__TOKEN",
    ]


def test_a_good_configuration_yields_typed_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **WECHAT,
        "INTAKE_WECHAT__REPLY_WAIT_S": "3",
        "INTAKE_WECHAT__DIALOG__TIMEOUT": "90s",
        "INTAKE_PUBLIC_URL": "https://hotline.example/",
        "INTAKE_SMS__SENDER": "12345",
        "INTAKE_SMS__KANNEL_USER": "intake",
        "INTAKE_EMAIL__ADDRESS": "12345@city.example",
        "INTAKE_TELEGRAM__TOKEN": TOKEN,
        "INTAKE_TELEGRAM__MODE": "polling",
        "INTAKE_WECOM__CORP_ID": "ww1",
        "INTAKE_WECOM__AGENT_ID": "1000002",
        "INTAKE_WECOM__SECRET": "s",
        "INTAKE_WECOM__ROBOT_HOSTS": "robots.example,hooks.example:8443",
        "INTAKE_NOTIFY__QUIET_HOURS": "22:00-07:00",
        "INTAKE_NOTIFY__STAFF__DIGEST_WINDOW": "5m",
        "INTAKE_NOTIFY__BRIEFINGS__DAILY_AT": "07:30",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert isinstance(settings, Settings)  # the core's settings, its parts unchanged
    assert isinstance(settings.wechat, WeChatSection)
    assert settings.wechat.accounts[0].app_id == "wx1"
    assert settings.wechat.reply_wait_s == 3 and settings.wechat.dialog.timeout == 90
    assert settings.wechat.settings.by_app_id("wx1") == settings.wechat.accounts[0]
    assert isinstance(settings.sms, SmsSettings) and settings.sms.sender == "12345"
    assert settings.sms.public_url == "https://hotline.example"  # Kannel calls back here
    assert isinstance(settings.email, EmailSettings) and settings.email.domain == "city.example"
    assert isinstance(settings.telegram, TelegramSettings) and settings.telegram.bot_id == 123456
    assert isinstance(settings.wecom, WeComSettings) and settings.wecom.agent_id == 1000002
    assert settings.wecom.robot_hosts == ["robots.example", "hooks.example:8443"]
    assert isinstance(settings.notify, NotifierSettings)
    assert settings.notify.quiet_hours.start == time(22, 0)
    assert settings.notify.staff.digest_window == timedelta(minutes=5)
    assert settings.notify.briefings.daily_at == time(7, 30)
    # the notifier's loaders hand out the validated parts as they are
    assert load_notify_settings(settings.notify) is settings.notify
    assert load_staff_alert_settings(settings.notify) is settings.notify.staff


def test_sections_not_written_leave_their_channel_off(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.wechat, settings.sms, settings.email, settings.telegram) == (None,) * 4
    assert settings.wecom is None and settings.notify == NotifierSettings()
    # without its key setting a section stays off, as before: no half-read channel
    monkeypatch.setenv("INTAKE_TELEGRAM__MODE", "polling")
    monkeypatch.setenv("INTAKE_EMAIL__IMAP_HOST", "imap.example")
    monkeypatch.setenv("INTAKE_WECHAT__DIALOG__ENABLED", "false")
    settings = load_settings()
    assert settings.telegram is None and settings.email is None
    assert settings.wechat is not None and settings.wechat.accounts == []
    assert settings.wechat.dialog.enabled is False


def test_the_config_file_keeps_its_format(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "intake.yaml"
    accounts = [
        {"app_id": "wx-city", "app_secret": "a", "token": "t", "aes_key": AES_KEY, "mode": "safe"},
        {"app_id": "wx-district", "app_secret": "b", "token": "u"},
    ]
    config.write_text(
        "wechat:\n  reply_wait_s: 2\n  accounts:\n"
        + "".join(
            "    - {" + ", ".join(f"{k}: {v!r}" for k, v in a.items()) + "}\n" for a in accounts
        )
        + "notify:\n  SURVEY_DELAY: 3h\n  staff:\n    DIGEST_TOP: 3\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("INTAKE_CONFIG_FILE", str(config))
    settings = load_settings()
    assert settings.wechat is not None and settings.wechat.reply_wait_s == 2
    assert [a.app_id for a in settings.wechat.accounts] == ["wx-city", "wx-district"]
    assert settings.notify.survey_delay == timedelta(hours=3)
    assert settings.notify.staff.digest_top == 3

    config.write_text(config.read_text().replace("token: 'u'", "mode: 'safe'"), encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert "INTAKE_WECHAT__ACCOUNTS__1__TOKEN: Field required" in str(refused.value)


def test_the_core_settings_become_the_typed_whole() -> None:
    core = Settings(
        wechat={"app_id": "wx", "app_secret": "s", "token": "t", "fetch_media": False},
        sms={"sender": "12345", "kannel_user": "intake"},
        notify={"SURVEY_DELAY": "30m"},
        public_url="http://127.0.0.1:9000",
    )
    typed = service_settings(core)
    assert isinstance(typed, ServiceSettings) and service_settings(typed) is typed
    assert typed.wechat is not None and typed.wechat.options.fetch_media is False
    assert typed.sms is not None and typed.sms.public_url == "http://127.0.0.1:9000"
    assert typed.notify.survey_delay == timedelta(minutes=30)
    assert typed.data_dir == core.data_dir and typed.pipeline == core.pipeline
    with pytest.raises(ConfigurationError, match="INTAKE_EMAIL__ADDRESS: "):
        service_settings(Settings(email={"address": "not-an-address"}))


@pytest.fixture
async def typed_runtime(tmp_path: Path, redis_prefix: str) -> AsyncIterator[Runtime]:
    core = Settings(
        data_dir=tmp_path / "data",
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        sms={"sender": "12345", "kannel_user": "intake"},  # Kannel is asked only to send
        email={"address": "12345@city.example"},  # no IMAP, no SMTP: nothing connects
        telegram={"token": TOKEN, "mode": "polling"},
        wechat={"dialog": {"enabled": False}},  # options, no account
    )
    runtime = await open_runtime(core)
    yield runtime
    await runtime.close()


async def test_connectors_get_their_section_as_validated(typed_runtime: Runtime) -> None:
    sections = typed_runtime.settings
    assert isinstance(sections, ServiceSettings)  # the root's runtime holds the typed whole
    connectors = build_connectors(typed_runtime, sections)
    try:
        assert set(connectors) == {"web", "sms", "email", "telegram"}  # no WeChat account
        assert connectors["sms"]._settings is sections.sms  # type: ignore[attr-defined]
        assert connectors["email"].settings is sections.email  # type: ignore[attr-defined]
        assert connectors["telegram"].settings is sections.telegram  # type: ignore[attr-defined]
    finally:
        await connectors["telegram"].aclose()  # type: ignore[attr-defined]
