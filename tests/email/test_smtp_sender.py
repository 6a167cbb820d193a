"""SmtpSender against a real aiosmtpd server on 127.0.0.1 (free port per test)."""

from __future__ import annotations

import asyncio
import email
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from channels.base import OutboundMessage
from channels.email.ids import ticket_from_message_id
from channels.email.sender import SmtpSender, SmtpSettings, classify_smtp_error
from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.domain.messages import IdentityKind, SenderIdentity
from tests.conftest import unavailable

DOMAIN = "city.example.test"
REPLIES = {  # local part prefix -> RCPT answer
    "busy": "450 4.2.1 Mailbox busy, try again later",
    "nouser": "550 5.1.1 <nouser@example.test>: Recipient address rejected: User unknown",
    "relay": "550 5.7.1 Relaying denied",
    "full": "552 5.2.2 Mailbox full",
}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        for prefix, answer in REPLIES.items():
            if address.startswith(prefix):
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"intake",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def server() -> Iterator[tuple[Handler, int]]:
    handler = Handler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def settings(port: int, **kw: Any) -> SmtpSettings:
    base = SmtpSettings(
        host="127.0.0.1",
        port=port,
        from_address="hotline@city.example.test",
        from_name="12345市民热线",
        domain=DOMAIN,
        security="none",
        timeout=5,
    )
    return replace(base, **kw)


def outbound(to: str = "zhangsan@example.test", **kw: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "recipient": SenderIdentity(IdentityKind.EMAIL, to, display_name="张三"),
        "text": "您的诉求已受理，工单号 2026112100042。",
        "job_key": "ack:2026112100042",
        "ticket_number": "2026112100042",
        "subject": "已受理：路灯坏了",
        "params": {"in_reply_to": "<c1.001@mail.example.test>"},
    }
    values.update(kw)
    return OutboundMessage(**values)


async def test_delivers_both_parts_with_our_message_id(server: tuple[Handler, int]) -> None:
    handler, port = server
    result = await SmtpSender(settings(port, envelope_from="bounces+{ticket}@" + DOMAIN)).send(
        outbound()
    )
    [got] = handler.received
    assert got.mail_from == "bounces+2026112100042@city.example.test"
    assert got.rcpt_tos == ["zhangsan@example.test"]
    mail = email.message_from_bytes(got.content, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    assert result.provider_id == str(mail["Message-ID"]).strip("<>")
    assert ticket_from_message_id(result.provider_id, DOMAIN) == "2026112100042"
    assert str(mail["Subject"]) == "已受理：路灯坏了 [2026112100042]"
    assert str(mail["In-Reply-To"]) == "<c1.001@mail.example.test>"
    assert str(mail["Auto-Submitted"]) == "auto-replied"
    assert str(mail["X-Intake-Notification"]) == "ack:2026112100042"
    assert "工单号 2026112100042" in mail.get_body(("plain",)).get_content()
    assert "工单号 2026112100042" in mail.get_body(("html",)).get_content()
    got.content.split(b"\r\n\r\n", 1)[0].decode("ascii")


async def test_login(server: tuple[Handler, int]) -> None:
    handler, port = server
    await SmtpSender(settings(port, user="intake", password="s3cret")).send(outbound())
    assert len(handler.received) == 1
    with pytest.raises(TransientSendError, match="535"):  # our configuration: retry later
        await SmtpSender(settings(port, user="intake", password="wrong")).send(outbound())
    assert len(handler.received) == 1
    assert "s3cret" not in repr(settings(port, password="s3cret"))


@pytest.mark.parametrize(
    ("to", "error"),
    [
        ("busy@example.test", TransientSendError),
        ("nouser@example.test", UnreachableError),
        ("relay@example.test", PermanentSendError),
        ("full@example.test", PermanentSendError),
    ],
)
async def test_recipient_errors(
    server: tuple[Handler, int], to: str, error: type[Exception]
) -> None:
    handler, port = server
    with pytest.raises(error) as caught:
        await SmtpSender(settings(port)).send(outbound(to))
    assert type(caught.value) is error
    assert handler.received == []


async def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientSendError):
        await SmtpSender(settings(free_port())).send(outbound())


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections but never sends a greeting."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
        writer.close()

    srv = await asyncio.start_server(hang, "127.0.0.1", 0)
    yield srv.sockets[0].getsockname()[1]
    srv.close()


async def test_timeout_is_transient(silent_server: int) -> None:
    with pytest.raises(TransientSendError):
        await SmtpSender(settings(silent_server, timeout=0.3)).send(outbound())


async def test_no_address_is_unreachable() -> None:
    sender = SmtpSender(settings(1))
    with pytest.raises(UnreachableError):
        await sender.send(outbound(recipient=SenderIdentity(IdentityKind.PHONE, "+8613800138000")))
    with pytest.raises(UnreachableError):
        await sender.send(outbound("a@b@c"))


def test_classify_plain_exceptions() -> None:
    assert isinstance(classify_smtp_error(ConnectionResetError()), TransientSendError)
    assert isinstance(classify_smtp_error(TimeoutError()), TransientSendError)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Handler, int, Path]]:
    if shutil.which("openssl") is None:
        unavailable("openssl (to make a test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, port = Handler(), free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield handler, port, cert
    finally:
        controller.stop()


async def test_starttls(tls_server: tuple[Handler, int, Path]) -> None:
    handler, port, cert = tls_server
    trusted = ssl.create_default_context(cafile=str(cert))
    await SmtpSender(settings(port, security="starttls", tls_context=trusted)).send(outbound())
    assert len(handler.received) == 1
    with pytest.raises(TransientSendError):  # the server insists on STARTTLS
        await SmtpSender(settings(port, security="none")).send(outbound())
    with pytest.raises(TransientSendError):  # an untrusted certificate is refused
        await SmtpSender(settings(port, security="starttls")).send(outbound())
    assert len(handler.received) == 1
