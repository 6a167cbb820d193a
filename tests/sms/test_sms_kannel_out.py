"""KannelSender request shape and answer classification (scripted answers, no gateway)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from channels.base import OutboundMessage
from channels.sms import build_sender
from channels.sms.kannel_out import KannelSender
from channels.sms.settings import SmsSettings
from intake.errors import (
    ConfigurationError,
    PermanentSendError,
    TransientSendError,
    UnreachableError,
)
from intake.messages import IdentityKind, SenderIdentity

SETTINGS = SmsSettings(
    kannel_url="http://kannel.test:13013/",
    kannel_user="tester",
    kannel_password="pw-very-secret",
    inbound_secret="in-secret",
    public_url="https://hotline.example",
    sender="12345",
    signature="12345热线",
    max_segments=2,
)


def msg(
    text: str, phone: str = "13800138000", kind: IdentityKind = IdentityKind.PHONE
) -> OutboundMessage:
    return OutboundMessage(SenderIdentity(kind, phone), text, job_key="job:42:ack")


def scripted(status: int, body: str, seen: list[httpx.Request]) -> KannelSender:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    sender = build_sender(SETTINGS, client=client)
    assert isinstance(sender, KannelSender)
    return sender


async def test_request_shape_for_chinese() -> None:
    seen: list[httpx.Request] = []
    result = await scripted(202, "0: Accepted for delivery", seen).send(msg("您的工单已受理"))
    assert result.detail == "0: Accepted for delivery"
    url = urlsplit(str(seen[0].url))
    assert (url.hostname, url.port, url.path) == ("kannel.test", 13013, "/cgi-bin/sendsms")
    q = dict(parse_qsl(url.query))
    assert q["username"] == "tester" and q["password"] == "pw-very-secret"
    assert q["from"] == "12345" and q["to"] == "+8613800138000"
    assert q["text"] == "【12345热线】您的工单已受理"
    assert q["charset"] == "UTF-8" and q["coding"] == "2" and q["dlr-mask"] == "31"
    assert q["dlr-url"] == (
        "https://hotline.example/channels/sms/dlr?secret=in-secret&ref=job:42:ack"
        "&status=%d&answer=%A&to=%p&ts=%T"
    )


async def test_gsm_text_is_sent_without_coding() -> None:
    seen: list[httpx.Request] = []
    base = scripted(202, "0: Accepted for delivery", seen)
    sender = KannelSender(SETTINGS.model_copy(update={"signature": ""}), base._client)
    await sender.send(msg("Ticket 42 closed"))
    assert "coding" not in dict(parse_qsl(seen[0].url.query.decode()))


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (202, "0: Accepted for delivery", None),
        (202, "3: Queued for later delivery", None),
        (503, "Temporal failure, try again later.", TransientSendError),
        (500, "Internal error", TransientSendError),
        (429, "slow down", TransientSendError),
        (403, "Authorization failed for sendsms", PermanentSendError),
        (400, "Missing receiver number, rejected", PermanentSendError),
        (403, "Number(s) has/have been denied by white- and/or black-lists.", UnreachableError),
    ],
)
async def test_classification(status: int, body: str, error: type[Exception] | None) -> None:
    sender = scripted(status, body, [])
    if error is None:
        assert (await sender.send(msg("hi"))).detail == body
    else:
        with pytest.raises(error):
            await sender.send(msg("hi"))


async def test_connection_refused_is_transient() -> None:
    settings = SETTINGS.model_copy(update={"kannel_url": "http://127.0.0.1:9"})
    with pytest.raises(TransientSendError):
        await KannelSender(settings).send(msg("hi"))


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (msg("hi", phone="12345"), PermanentSendError),
        (msg("hi", phone="o_wechat", kind=IdentityKind.WECHAT), UnreachableError),
        (msg("路" * 200), PermanentSendError),  # more than max_segments=2
    ],
)
async def test_refused_before_sending(message: OutboundMessage, error: type[Exception]) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(error):
        await scripted(202, "0: Accepted for delivery", seen).send(message)
    assert seen == []


async def test_password_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await scripted(202, "0: Accepted for delivery", []).send(msg("hi"))
    assert caplog.records, "expected httpx and sender log lines"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "pw-very-secret" not in text and "in-secret" not in text
    assert "13800138000" not in text and "+86138****8000" in text


def test_build_sender_refuses_incomplete_settings() -> None:
    with pytest.raises(ConfigurationError):
        build_sender(SmsSettings(provider="kannel"))
    with pytest.raises(ConfigurationError):
        build_sender(SmsSettings(provider="aliyun"))
