"""The notifier's Telegram sender against the fake Bot API: inline keyboards, staff buttons,
and Telegram's errors sorted into retry / fall back / give up."""

from __future__ import annotations

import socket

import pytest

from channels.base import OutboundMessage
from channels.telegram.bot import make_bot
from channels.telegram.sender import TelegramSender
from channels.telegram.settings import TelegramSettings, telegram_settings
from intake.domain.errors import (
    ConfigurationError,
    PermanentSendError,
    TransientSendError,
    UnreachableError,
)
from intake.domain.messages import IdentityKind, SenderIdentity
from tests.telegram.fake_bot_api import TOKEN, FakeBotApi

CHAT = 777001


def _message(**extra: object) -> OutboundMessage:
    fields: dict = {
        "recipient": SenderIdentity(IdentityKind.TELEGRAM, str(CHAT)),
        "text": "您的工单已办结",
        "job_key": "closed:1",
        "ticket_number": "2026031000001",
        **extra,
    }
    return OutboundMessage(**fields)


def _sender(base: str) -> TelegramSender:
    return TelegramSender(make_bot(TelegramSettings(token=TOKEN, api_base=base, mode="polling")))


async def test_sends_text_and_buttons(fake_api: FakeBotApi) -> None:
    sender = _sender(fake_api.base)
    result = await sender.send(
        _message(buttons=(("满意", "rate:ABCDEF:1"), ("网页", "https://x.test/r")))
    )
    (call,) = fake_api.sent(CHAT)
    assert result.provider_id and call.params["text"] == "您的工单已办结"
    first, second = call.markup["inline_keyboard"][0]
    assert first == {"text": "满意", "callback_data": "rate:ABCDEF:1"}
    assert second == {"text": "网页", "url": "https://x.test/r"}
    await sender.send(_message(template="staff_dispatched"))
    datas = [b["callback_data"] for b in fake_api.sent(CHAT)[-1].markup["inline_keyboard"][0]]
    assert datas == ["staff:accept:2026031000001", "staff:open:2026031000001"]
    await sender.send(_message(template="closed"))
    assert "reply_markup" not in fake_api.sent(CHAT)[-1].params


@pytest.mark.parametrize(
    ("failure", "error", "retry_after"),
    [
        ("flood", TransientSendError, 7),
        ("blocked", UnreachableError, None),
        ("not_found", UnreachableError, None),
        ("server", TransientSendError, None),
    ],
)
async def test_errors_are_classified(
    fake_api: FakeBotApi, failure: str, error: type[Exception], retry_after: int | None
) -> None:
    fake_api.fail_next(CHAT, failure)
    with pytest.raises(error) as caught:
        await _sender(fake_api.base).send(_message())
    if retry_after is not None:
        assert isinstance(caught.value, TransientSendError)
        assert caught.value.retry_after == retry_after


async def test_other_bad_requests_are_permanent_but_not_unreachable(fake_api: FakeBotApi) -> None:
    fake_api.fail_next(CHAT, "bad_request")
    with pytest.raises(PermanentSendError) as caught:
        await _sender(fake_api.base).send(_message())
    assert not isinstance(caught.value, UnreachableError)


async def test_network_error_is_transient() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientSendError):
        await _sender(f"http://127.0.0.1:{port}").send(_message())


def test_settings_are_checked_at_start_up() -> None:
    assert telegram_settings({}) is None
    with pytest.raises(ConfigurationError):
        telegram_settings({"token": "not-a-token", "secret_token": "x"})
    with pytest.raises(ConfigurationError):  # a webhook without its secret
        telegram_settings({"token": TOKEN})
    ok = telegram_settings({"token": TOKEN, "mode": "polling", "api_base": "http://h:1/"})
    assert ok is not None and ok.api_base == "http://h:1" and ok.bot_id == 123456
