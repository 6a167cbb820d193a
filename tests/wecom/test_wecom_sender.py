"""The WeCom client and senders against the fake WeCom API: one shared token, refreshed when
WeCom says it is stale, errors sorted for the notifier, robot URLs held to WeCom's host."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from channels.wecom.api import WeComClient
from channels.wecom.robot import RobotSender
from channels.wecom.sender import WeComSender, task_id
from channels.wecom.settings import WeComSettings, wecom_settings
from intake.directory.department_alerts import robot_url_problem
from intake.domain.errors import (
    ConfigurationError,
    PermanentSendError,
    TransientSendError,
    UnreachableError,
)
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.interfaces import OutboundMessage
from intake.redis.keys import Keys
from tests.conftest import REDIS_URL
from tests.wecom.conftest import wecom_section
from tests.wecom.fake_wecom import ROBOT_KEY, FakeWeCom

USER = "zhangsan"


@pytest.fixture
async def client(fake_wecom: FakeWeCom, redis_prefix: str) -> AsyncIterator[WeComClient]:
    settings = wecom_settings(wecom_section(fake_wecom))
    assert settings is not None
    redis = aioredis.from_url(REDIS_URL)
    api = WeComClient(settings, redis=redis, keys=Keys(redis_prefix))
    yield api
    await api.aclose()
    await redis.aclose()


def _alert(user: str = USER, *, key: str = "staff:dispatched:1-0:7", number: str = "2026120600001"):
    return OutboundMessage(
        recipient=SenderIdentity(IdentityKind.WECOM, user),
        text="环保局：新派工单（投诉）：油烟扰民。",
        job_key=key,
        ticket_number=number,
        subject=f"新派工单 {number}",
        template="staff_dispatched",
    )


async def test_button_card_for_a_ticket_alert_and_one_shared_token(
    client: WeComClient, fake_wecom: FakeWeCom
) -> None:
    fake_wecom.users.add(USER)
    sender = WeComSender(client, console_url="https://intake.example/console")
    results = await asyncio.gather(
        *(sender.send(_alert(key=f"staff:dispatched:{i}-0:7")) for i in range(20))
    )
    assert fake_wecom.token_fetches == 1  # one fetch under the lock, shared by all
    assert all(r.provider_id for r in results)
    card = fake_wecom.to(USER)[0]["template_card"]
    assert card["card_type"] == "button_interaction"
    assert [b["text"] for b in card["button_list"]] == ["受理", "查看"]
    assert card["button_list"][0]["key"] == "accept:2026120600001"
    assert card["card_action"]["url"].endswith("/console/tickets/2026120600001")


async def test_the_same_job_never_makes_a_second_card(
    client: WeComClient, fake_wecom: FakeWeCom
) -> None:
    fake_wecom.users.add(USER)
    sender = WeComSender(client)
    await sender.send(_alert())
    again = await sender.send(_alert())  # WeCom refuses the task id: it went out already
    assert again.provider_id is None and len(fake_wecom.to(USER)) == 1
    assert len(task_id("x" * 500)) <= 128 and task_id("a:b") != task_id("a-b")


async def test_a_digest_is_a_text_card(client: WeComClient, fake_wecom: FakeWeCom) -> None:
    fake_wecom.users.add(USER)
    digest = OutboundMessage(
        recipient=SenderIdentity(IdentityKind.WECOM, USER),
        text="10 分钟内又有 12 张新派工单：2026120600002、…",
        job_key="digest:7:staff_dispatched:1",
        template="staff_digest",
    )
    await WeComSender(client, console_url="https://intake.example/console").send(digest)
    (sent,) = fake_wecom.to(USER)
    assert sent["msgtype"] == "textcard" and "12 张" in sent["textcard"]["description"]


async def test_expired_token_is_refreshed_once_and_the_call_retried(
    client: WeComClient, fake_wecom: FakeWeCom
) -> None:
    fake_wecom.users.add(USER)
    sender = WeComSender(client)
    await sender.send(_alert(key="k1"))
    fake_wecom.expire_tokens()  # WeCom now answers 42001 to the cached token
    await sender.send(_alert(key="k2"))
    assert fake_wecom.token_fetches == 2 and len(fake_wecom.to(USER)) == 2


@pytest.mark.parametrize(
    ("codes", "error", "retry_after"),
    [
        ((81013,), UnreachableError, None),
        ((60111,), UnreachableError, None),
        ((45009,), TransientSendError, 60.0),
        ((-1,), TransientSendError, None),
        ((40008,), PermanentSendError, None),
    ],
)
async def test_errors_are_sorted_like_the_other_senders(
    client: WeComClient,
    fake_wecom: FakeWeCom,
    codes: tuple[int, ...],
    error: type[Exception],
    retry_after: float | None,
) -> None:
    fake_wecom.users.add(USER)
    fake_wecom.fail(USER, *codes)
    with pytest.raises(error) as raised:
        await WeComSender(client).send(_alert())
    if error is TransientSendError:
        assert isinstance(raised.value, TransientSendError)
        assert raised.value.retry_after == retry_after
    if error is PermanentSendError:
        assert not isinstance(raised.value, UnreachableError | TransientSendError)


async def test_a_user_outside_the_app_is_unreachable(
    client: WeComClient, fake_wecom: FakeWeCom
) -> None:
    with pytest.raises(UnreachableError):
        await WeComSender(client).send(_alert("nobody"))


async def test_unreachable_wecom_is_transient(fake_wecom: FakeWeCom, redis_prefix: str) -> None:
    settings = wecom_settings({**wecom_section(fake_wecom), "api_base": "http://127.0.0.1:9"})
    assert settings is not None
    redis = aioredis.from_url(REDIS_URL)
    api = WeComClient(settings, redis=redis, keys=Keys(redis_prefix))
    try:
        with pytest.raises(TransientSendError):
            await WeComSender(api).send(_alert())
    finally:
        await api.aclose()
        await redis.aclose()


async def test_secrets_stay_out_of_settings_errors_and_logs(
    fake_wecom: FakeWeCom, client: WeComClient, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        wecom_settings({**wecom_section(fake_wecom), "aes_key": "short-SECRETVALUE"})
    assert "SECRETVALUE" not in str(refused.value)
    settings = wecom_settings(wecom_section(fake_wecom))
    assert isinstance(settings, WeComSettings) and "app-secret" not in repr(settings)
    fake_wecom.users.add(USER)
    with caplog.at_level(logging.DEBUG):
        await WeComSender(client).send(_alert())
    assert "app-secret" not in caplog.text and "token-1" not in caplog.text


async def test_robot_posts_to_the_registered_group_only_on_allowed_hosts(
    fake_wecom: FakeWeCom,
) -> None:
    host = fake_wecom.base.removeprefix("http://")
    url = f"{fake_wecom.base}/cgi-bin/webhook/send?key={ROBOT_KEY}"
    registered = {"water": url, "gone": url.replace(ROBOT_KEY, "old")}

    async def resolve(department: str) -> str | None:
        return registered.get(department)

    def to(department: str) -> OutboundMessage:
        recipient = SenderIdentity(IdentityKind.WECOM, department, account="robot")
        return OutboundMessage(recipient=recipient, text="水务局：3 张新派工单", job_key="r1")

    async with httpx.AsyncClient() as http:
        robot = RobotSender(http, allowed_hosts=[host], resolve=resolve)
        await robot.send(to("water"))
        assert fake_wecom.robot_posts[-1]["markdown"]["content"] == "水务局：3 张新派工单"
        with pytest.raises(PermanentSendError, match="refused"):
            await RobotSender(http, allowed_hosts=[], resolve=resolve).send(to("water"))
        for department in ("gone", "nowhere"):
            with pytest.raises(UnreachableError):
                await robot.send(to(department))


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", [], True),
        ("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", [], False),
        ("https://qyapi.weixin.qq.com:8443/cgi-bin/webhook/send?key=abc", [], False),
        ("https://qyapi.weixin.qq.com/cgi-bin/other?key=abc", [], False),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", [], False),
        ("https://u:p@qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", [], False),
        ("http://127.0.0.1:6379/cgi-bin/webhook/send?key=abc", [], False),
        ("http://169.254.169.254/cgi-bin/webhook/send?key=abc", [], False),
        ("https://qyapi.weixin.qq.com.evil.example/cgi-bin/webhook/send?key=a", [], False),
        ("http://robots.gov.example/cgi-bin/webhook/send?key=abc", ["robots.gov.example"], True),
        ("ftp://robots.gov.example/cgi-bin/webhook/send?key=abc", ["robots.gov.example"], False),
    ],
)
def test_robot_url_rule(url: str, allowed: list[str], ok: bool) -> None:
    assert (robot_url_problem(url, allowed) is None) is ok
