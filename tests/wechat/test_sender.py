"""WeChatSender against the fake WeChat API and real Redis: window, quota, templates, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from channels.base import OutboundMessage
from channels.wechat.sender import WeChatSender
from channels.wechat.settings import WeChatAccount
from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.redis.keys import Keys
from tests.wechat.wechat_fake_api import APP_ID, SECRET, FakeServer, FakeWeChat

pytestmark = pytest.mark.integration
START = 1_800_000_000.0
HOUR = 3600.0
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
TEMPLATES = {
    "ticket_update": {
        "template_id": "TPL_UPDATE_1",
        "fields": {"character_string1": "ticket_number", "thing2": "status", "thing3": "text"},
        "url": "https://city.example/track",
    }
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_account(base: str, **overrides: object) -> WeChatAccount:
    values: dict[str, Any] = {
        "app_id": APP_ID,
        "app_secret": SECRET,
        "token": "T",
        "api_base": base,
        "templates": TEMPLATES,
    }
    values.update(overrides)
    return WeChatAccount.model_validate(values)


@pytest.fixture
async def sender(
    fake_server: FakeServer,
    fake_wechat: FakeWeChat,
    redis_client: aioredis.Redis,
    key_prefix: str,
    clock: Clock,
) -> AsyncIterator[WeChatSender]:
    built = WeChatSender.from_accounts(
        [make_account(fake_server.base_url)], redis=redis_client, keys=Keys(key_prefix), clock=clock
    )
    yield built
    await built.aclose()


def out(
    openid: str = "o_user1", *, template: str | None = None, account: str = APP_ID, **params: Any
) -> OutboundMessage:
    return OutboundMessage(
        recipient=SenderIdentity(IdentityKind.WECHAT, openid, account=account),
        text="您的工单 2024-000042 已办结",
        job_key="job-1",
        ticket_number="2024-000042",
        template=template,
        params=params,
    )


def at(clock: Clock, offset: float = 0.0) -> datetime:
    return datetime.fromtimestamp(clock.now + offset, tz=UTC)


def sent_paths(fake: FakeWeChat) -> list[str]:
    return [d["path"] for d in fake.delivered]


async def test_custom_message_inside_the_window(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    result = await sender.send(out())
    assert result.detail == "custom"
    assert fake_wechat.delivered == [
        {
            "path": CUSTOM,
            "body": {"touser": "o_user1", "msgtype": "text", "text": {"content": out().text}},
        }
    ]


async def test_quota_is_five_per_user_message(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    for _ in range(5):
        assert (await sender.send(out())).detail == "custom"
    with pytest.raises(UnreachableError, match="no template"):
        await sender.send(out())
    await sender.note_user_message("o_user1", APP_ID, at(clock, 60))
    assert (await sender.send(out())).detail == "custom"
    assert sent_paths(fake_wechat) == [CUSTOM] * 6


async def test_concurrent_sends_never_overspend_the_quota(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    msg = out(template="ticket_update", status="已办结")
    results = await asyncio.gather(*(sender.send(msg) for _ in range(10)))
    assert sorted(r.detail or "" for r in results) == ["custom"] * 5 + ["template"] * 5


async def test_window_closes_after_48_hours(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    clock.now += 47 * HOUR
    assert (await sender.send(out())).detail == "custom"
    clock.now += 1 * HOUR + 1
    result = await sender.send(out(template="ticket_update", status="已办结"))
    assert result.detail == "template"
    assert result.provider_id == "1000"  # the first template msgid the fake hands out


async def test_an_older_message_does_not_reopen_a_newer_window(
    sender: WeChatSender, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    for _ in range(5):
        await sender.send(out())
    await sender.note_user_message("o_user1", APP_ID, at(clock, -10))  # a late retry
    assert await sender.window.remaining("o_user1", APP_ID) == 0
    await sender.note_user_message("o_user1", APP_ID, at(clock, -49 * HOUR))
    assert await sender.window.remaining("o_user1", APP_ID) == 0


async def test_template_outside_the_window_with_field_mapping(
    sender: WeChatSender, fake_wechat: FakeWeChat
) -> None:
    result = await sender.send(out(template="ticket_update", status="已办结"))
    assert result == type(result)(provider_id="1000", detail="template")
    assert fake_wechat.delivered[0] == {
        "path": TEMPLATE,
        "body": {
            "touser": "o_user1",
            "template_id": "TPL_UPDATE_1",
            "data": {
                "character_string1": {"value": "2024-000042"},
                "thing2": {"value": "已办结"},
                "thing3": {"value": "您的工单 2024-000042 已办结"},
            },
            "url": "https://city.example/track",
        },
    }


async def test_template_with_a_missing_value_is_permanent(
    sender: WeChatSender, fake_wechat: FakeWeChat
) -> None:
    with pytest.raises(PermanentSendError, match="status") as caught:
        await sender.send(out(template="ticket_update"))
    assert not isinstance(caught.value, UnreachableError)
    assert fake_wechat.delivered == []


async def test_no_window_and_no_template_is_unreachable(
    sender: WeChatSender, fake_wechat: FakeWeChat
) -> None:
    with pytest.raises(UnreachableError):
        await sender.send(out())
    with pytest.raises(UnreachableError):
        await sender.send(out(template="not_configured"))
    assert fake_wechat.calls == []


async def test_45015_is_unreachable(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    """Our window says open, WeChat says closed: fall back to SMS (no template to use)."""
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    fake_wechat.scripted["o_user1"] = [45015]
    with pytest.raises(UnreachableError, match="no template"):
        await sender.send(out())
    assert await sender.window.remaining("o_user1", APP_ID) == 0
    assert fake_wechat.delivered == []


async def test_45015_falls_back_to_a_template_when_there_is_one(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    fake_wechat.scripted["o_user1"] = [45015]
    result = await sender.send(out(template="ticket_update", status="处理中"))
    assert result.detail == "template"
    assert sent_paths(fake_wechat) == [TEMPLATE]


@pytest.mark.parametrize("code", [45015, 45047, 43004, 43101])
async def test_unreachable_codes_on_templates(
    sender: WeChatSender, fake_wechat: FakeWeChat, code: int
) -> None:
    fake_wechat.scripted["o_user1"] = [code]
    with pytest.raises(UnreachableError, match=str(code)):
        await sender.send(out(template="ticket_update", status="x"))
    assert await sender.is_unsubscribed("o_user1", APP_ID) is (code == 43004)


async def test_42001_refreshes_the_token_and_delivers(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    fake_wechat.scripted["o_user1"] = [42001]
    assert (await sender.send(out())).detail == "custom"
    assert fake_wechat.token_fetches() == 2
    assert len(fake_wechat.delivered) == 1
    assert await sender.window.remaining("o_user1", APP_ID) == 4


@pytest.mark.parametrize("code", [45009, -1, "http500"])
async def test_transient_failures_refund_only_refused_sends(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock, code: int | str
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    fake_wechat.scripted["o_user1"] = [code]
    with pytest.raises(TransientSendError):
        await sender.send(out())
    # an errcode means WeChat refused (slot given back); a 5xx may have been delivered
    expected = 4 if code == "http500" else 5
    assert await sender.window.remaining("o_user1", APP_ID) == expected


async def test_network_error_is_transient(
    redis_client: aioredis.Redis, key_prefix: str, clock: Clock
) -> None:
    dead = WeChatSender.from_accounts(
        [make_account("http://127.0.0.1:9")], redis=redis_client, keys=Keys(key_prefix), clock=clock
    )
    await dead.note_user_message("o_user1", APP_ID, at(clock))
    try:
        with pytest.raises(TransientSendError):
            await dead.send(out())
    finally:
        await dead.aclose()


async def test_other_errcodes_are_permanent(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    fake_wechat.scripted["o_user1"] = [40003]
    with pytest.raises(PermanentSendError) as caught:
        await sender.send(out())
    assert not isinstance(caught.value, (UnreachableError, TransientSendError))


async def test_unsubscribed_identity_gets_nothing(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.note_user_message("o_user1", APP_ID, at(clock))
    await sender.mark_unsubscribed("o_user1", APP_ID)
    with pytest.raises(UnreachableError, match="unsubscribed"):
        await sender.send(out(template="ticket_update", status="x"))
    assert fake_wechat.calls == []
    await sender.mark_subscribed("o_user1", APP_ID)
    assert not await sender.is_unsubscribed("o_user1", APP_ID)
    assert (await sender.send(out(template="ticket_update", status="x"))).detail == "template"


async def test_the_account_is_part_of_the_identity(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    await sender.mark_unsubscribed("o_user1", "wx_district_02")
    assert not await sender.is_unsubscribed("o_user1", APP_ID)
    await sender.note_user_message("o_user1", "wx_district_02", at(clock))
    assert await sender.window.remaining("o_user1", APP_ID) == 0
    with pytest.raises(PermanentSendError, match="not configured"):
        await sender.send(out(account="wx_district_02"))


async def test_non_wechat_recipient_is_permanent(sender: WeChatSender) -> None:
    msg = OutboundMessage(SenderIdentity(IdentityKind.PHONE, "+8613800000000"), "x", "job")
    with pytest.raises(PermanentSendError):
        await sender.send(msg)


def inbound(kind: MessageKind, clock: Clock, **fields: Any) -> InboundMessage:
    return InboundMessage(
        channel="wechat",
        external_id="x",
        sender=SenderIdentity(IdentityKind.WECHAT, "o_user1", account=APP_ID),
        kind=kind,
        received_at=at(clock),
        fields=fields,
    )


async def test_observe_tracks_messages_and_subscriptions(
    sender: WeChatSender, clock: Clock
) -> None:
    await sender.observe(inbound(MessageKind.EVENT, clock, event="click", event_key="MY"))
    assert await sender.window.remaining("o_user1", APP_ID) == 0  # a click opens no 48 h window
    await sender.observe(inbound(MessageKind.TEXT, clock))
    assert await sender.window.remaining("o_user1", APP_ID) == 5
    await sender.observe(inbound(MessageKind.EVENT, clock, event="unsubscribe"))
    assert await sender.is_unsubscribed("o_user1", APP_ID)
    assert await sender.window.remaining("o_user1", APP_ID) == 0
    await sender.observe(inbound(MessageKind.EVENT, clock, event="subscribe"))
    assert not await sender.is_unsubscribed("o_user1", APP_ID)


async def test_window_notes_made_at_once_go_in_one_call(
    sender: WeChatSender, fake_wechat: FakeWeChat, clock: Clock
) -> None:
    """Pushes arriving together note their windows in one Redis call; each window opens, and
    a later note in the same call wins over an earlier one."""
    window = sender.window
    calls: list[int] = []
    many = window._note

    async def counted(*, keys: list[str], args: list[Any]) -> Any:
        calls.append(len(keys))
        return await many(keys=keys, args=args)

    window._note = counted  # type: ignore[assignment]
    openids = [f"o_user{i}" for i in range(8)]
    await asyncio.gather(
        *(sender.note_user_message(o, APP_ID, at(clock)) for o in openids),
        sender.note_user_message("o_user0", APP_ID, at(clock, 30)),
    )
    assert calls == [9]
    for openid in openids:
        assert await window.remaining(openid, APP_ID) == 5
    (opened,) = await window._redis.hmget(window._key(APP_ID, "o_user0", "window"), ["opened_at"])
    assert int(opened) == int((clock.now + 30) * 1000)
