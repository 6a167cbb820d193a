"""`intake staff contact` and `intake staff robot`: validated, stored where the notifier reads
them, shown masked; bad input exits with 2 and a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from intake.catalog import Catalog
from intake.config import Settings
from intake.directory.accounts import add_staff
from intake.directory.contacts import ContactChange, apply_change, masked_contact
from intake.directory.department_alerts import DepartmentAlerts
from intake.domain.enums import Role
from intake.domain.errors import InvalidInput
from intake.domain.models import Staff
from intake.storage.database import open_database
from intake.storage.migrate import upgrade
from notifier.routing import staff_routes
from service.staff_contacts_cli import register
from tests.conftest import run_sync


def _app() -> typer.Typer:
    app = typer.Typer()
    staff_app = typer.Typer()
    app.add_typer(staff_app, name="staff")
    register(staff_app)
    return app


async def _setup(data_dir: Path, *names: str) -> None:
    settings = Settings(data_dir=data_dir)
    db = open_database(settings)
    try:
        await upgrade(db.engine)
        catalog = Catalog.load(settings.catalog.departments_file)
        async with db.write() as session, session.begin():
            for name in names:
                await add_staff(
                    session, name=name, role=Role.HANDLER, department="water", catalog=catalog
                )
    finally:
        await db.dispose()


async def _read(data_dir: Path, cls: type, key: object) -> object:
    db = open_database(Settings(data_dir=data_dir))
    try:
        async with db.read() as session:
            return await session.get(cls, key)
    finally:
        await db.dispose()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("INTAKE_DATABASE_URL", "INTAKE_CONFIG_FILE", "INTAKE_WECOM__ROBOT_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    run_sync(_setup(tmp_path, "王五", "李四", "李四"))
    runner = CliRunner()
    return lambda *args: runner.invoke(_app(), ["staff", *args])


def test_contact_is_stored_for_the_notifier_and_shown_masked(cli, tmp_path: Path) -> None:
    done = cli(
        "contact", "王五", "--phone", "138 1234 5678", "--email", "Wang.Wu@Water.Gov.CN",
        "--wecom-userid", "wangwu", "--prefer", "wecom,sms,email", "--lead",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "+86138****5678" in done.output and "Wa***@water.gov.cn" in done.output
    assert "13812345678" not in done.output and "lead" in done.output
    member = run_sync(_read(tmp_path, Staff, 1))
    assert isinstance(member, Staff) and member.lead
    assert member.contact["sms"] == "+8613812345678"
    routes = staff_routes(member)
    assert [r.channel for r in routes] == ["wecom", "sms", "email"]
    assert routes[0].recipient.value == "wangwu"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--phone", "12345"), "phone"),
        (("--email", "not-an-address"), "e-mail"),
        (("--wecom-userid", "张 三"), "WeCom"),
        (("--prefer", "fax"), "--prefer"),
        (("--prefer", "sms"), "without a contact"),
        (("--work-hours", "9-5"), "HH:MM"),
    ],
)
def test_bad_contacts_are_refused_with_a_reason(cli, args: tuple[str, ...], reason: str) -> None:
    done = cli("contact", "王五", *args)
    assert done.exit_code == 2 and reason in done.output


def test_ambiguous_or_unknown_names(cli) -> None:
    shared = cli("contact", "李四", "--phone", "13812345678")
    assert shared.exit_code == 2 and "#2" in shared.output and "#3" in shared.output
    assert cli("contact", "#3", "--phone", "13812345678").exit_code == 0
    assert cli("contact", "nobody", "--phone", "13812345678").exit_code == 2


def test_robot_only_on_wecoms_host(cli, tmp_path: Path) -> None:
    internal = cli("robot", "water", "http://127.0.0.1:6379/cgi-bin/webhook/send?key=x")
    assert internal.exit_code == 2 and "only qyapi.weixin.qq.com" in internal.output
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef123"
    done = cli("robot", "water", url)
    assert done.exit_code == 0 and "abcd***" in done.output and "abcdef123" not in done.output
    row = run_sync(_read(tmp_path, DepartmentAlerts, "water"))
    assert isinstance(row, DepartmentAlerts) and row.wecom_robot_url == url
    assert cli("robot", "nowhere", url).exit_code == 2


def test_changes_keep_what_is_not_named() -> None:
    contact = apply_change({}, ContactChange(phone="13812345678", email="a@b.cn"))
    contact = apply_change(contact, ContactChange(email=""))
    assert contact == {"sms": "+8613812345678"}
    assert masked_contact({"wecom": "zhangsan", "telegram": "42"}) == {
        "wecom": "zha***",
        "telegram": "linked",
    }
    with pytest.raises(InvalidInput):
        apply_change({}, ContactChange(prefer="sms,sms"))
