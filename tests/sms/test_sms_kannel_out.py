"""KannelSender request shape, answer classification and its keep-alive HTTP/1.1 client, against
a small local server that answers like smsbox's sendsms (scripted per test, no gateway)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import pytest

from channels.base import OutboundMessage
from channels.sms import build_sender
from channels.sms.kannel_out import KannelSender
from channels.sms.settings import SmsSettings
from intake.domain.errors import (
    ConfigurationError,
    PermanentSendError,
    TransientSendError,
    UnreachableError,
)
from intake.domain.messages import IdentityKind, SenderIdentity

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


@dataclass
class Smsbox:
    """Answers every GET with `status`/`body`, like Kannel's HTTP server (HTTP/1.1,
    Content-Length, keep-alive); `hang_up` closes after each answer without saying so,
    `silent` never answers, `no_length` sends the body until the close."""

    status: int = 202
    body: str = "0: Accepted for delivery"
    hang_up: bool = False
    silent: bool = False
    no_length: bool = False
    targets: list[str] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, n: int = 0) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.targets[n]).query))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while line := await reader.readline():
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            self.targets.append(line.split(b" ")[1].decode())
            if self.silent:
                await asyncio.sleep(3600)
            body = self.body.encode()
            length = b"" if self.no_length else b"Content-Length: %d\r\n" % len(body)
            head = b"HTTP/1.1 %d X\r\nContent-Type: text/html\r\n%s" % (self.status, length)
            writer.write(head + b"\r\n" + body)
            await writer.drain()
            if self.hang_up or self.no_length:
                break
        writer.close()


@pytest.fixture
async def smsbox() -> AsyncIterator[Smsbox]:
    fake = Smsbox()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    yield fake
    server.close()


def sender_for(box: Smsbox, **changes: object) -> KannelSender:
    sender = build_sender(SETTINGS.model_copy(update={"kannel_url": box.url, **changes}))
    assert isinstance(sender, KannelSender)
    return sender


async def test_request_shape_for_chinese(smsbox: Smsbox) -> None:
    result = await sender_for(smsbox).send(msg("您的工单已受理"))
    assert result.detail == "0: Accepted for delivery"
    assert urlsplit(smsbox.targets[0]).path == "/cgi-bin/sendsms"
    q = smsbox.query()
    assert q["username"] == "tester" and q["password"] == "pw-very-secret"
    assert q["from"] == "12345" and q["to"] == "+8613800138000"
    assert q["text"] == "【12345热线】您的工单已受理"
    assert q["charset"] == "UTF-8" and q["coding"] == "2" and q["dlr-mask"] == "23"
    assert q["dlr-url"] == (
        "https://hotline.example/channels/sms/dlr?secret=in-secret&ref=job:42:ack"
        "&status=%d&answer=%A&to=%p&ts=%T"
    )
    assert "+" not in smsbox.targets[0] and "%2B86138" in smsbox.targets[0]


async def test_gsm_text_is_sent_without_coding(smsbox: Smsbox) -> None:
    await sender_for(smsbox, signature="").send(msg("Ticket 42 closed"))
    assert "coding" not in smsbox.query() and smsbox.query()["text"] == "Ticket 42 closed"


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
async def test_classification(
    smsbox: Smsbox, status: int, body: str, error: type[Exception] | None
) -> None:
    smsbox.status, smsbox.body = status, body
    sender = sender_for(smsbox)
    if error is None:
        assert (await sender.send(msg("hi"))).detail == body
    else:
        with pytest.raises(error):
            await sender.send(msg("hi"))


async def test_connection_refused_is_transient() -> None:
    settings = SETTINGS.model_copy(update={"kannel_url": "http://127.0.0.1:9"})
    with pytest.raises(TransientSendError):
        await KannelSender(settings).send(msg("hi"))


async def test_no_answer_is_transient(smsbox: Smsbox) -> None:
    smsbox.silent = True
    with pytest.raises(TransientSendError, match="no answer"):
        await sender_for(smsbox, timeout_seconds=0.2).send(msg("hi"))


async def test_keep_alive_connections_are_reused_and_bounded(smsbox: Smsbox) -> None:
    sender = sender_for(smsbox, max_connections=4)
    for _ in range(5):
        await sender.send(msg("hi"))
    assert smsbox.connections == 1
    await asyncio.gather(*(sender.send(msg(f"n{i}")) for i in range(40)))
    assert len(smsbox.targets) == 45 and smsbox.connections <= 4
    await sender.aclose()


@pytest.mark.parametrize("mode", ["hang_up", "no_length"])
async def test_connections_closed_by_the_gateway_are_reopened(smsbox: Smsbox, mode: str) -> None:
    setattr(smsbox, mode, True)
    sender = sender_for(smsbox)
    for i in range(3):
        assert (await sender.send(msg(f"n{i}"))).detail == "0: Accepted for delivery"
    assert len(smsbox.targets) == 3 and smsbox.connections == 3  # each request sent once


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (msg("hi", phone="12345"), PermanentSendError),
        (msg("hi", phone="o_wechat", kind=IdentityKind.WECHAT), UnreachableError),
        (msg("路" * 200), PermanentSendError),  # more than max_segments=2
    ],
)
async def test_refused_before_sending(
    smsbox: Smsbox, message: OutboundMessage, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await sender_for(smsbox).send(message)
    assert smsbox.targets == []


async def test_password_never_logged(smsbox: Smsbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await sender_for(smsbox).send(msg("hi"))
    assert caplog.records, "expected the sender's log line"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "pw-very-secret" not in text and "in-secret" not in text
    assert "13800138000" not in text and "+86138****8000" in text


def test_build_sender_refuses_incomplete_settings() -> None:
    with pytest.raises(ConfigurationError):
        build_sender(SmsSettings(provider="kannel"))
    with pytest.raises(ConfigurationError):
        build_sender(SmsSettings(provider="aliyun"))
