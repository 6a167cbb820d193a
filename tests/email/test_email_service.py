"""E-mail through a real Dovecot into the running service: mail becomes tickets with the right
text, a reply to our acknowledgement is a follow-up on its ticket, and a reader killed with
SIGKILL mid-batch (`intake worker --only email`) and restarted makes every ticket exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from sqlalchemy import func, select

from channels.email import make_message_id
from channels.email.connector import EmailConnector
from intake.config import Settings
from intake.domain.enums import EventKind
from intake.domain.models import AttachmentRecord, Message, Ticket, TicketEvent
from intake.runtime import Runtime
from tests.conftest import unavailable
from tests.email.dovecot_peer import (
    ADDRESS,
    FIXTURES,
    Dovecot,
    dovecot_binary,
    fixture,
    remove,
    set_headers,
    start_dovecot,
)
from tests.polling import poll as poll_until

pytestmark = pytest.mark.integration
T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ADDRESS.rpartition("@")[2]
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES / "expected.yaml").read_text())


@dataclass
class Service:
    runtime: Runtime
    dovecot: Dovecot
    connector: EmailConnector


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if dovecot_binary() is None:
        unavailable("dovecot (apt-get install dovecot-imapd)")
    peer = start_dovecot()
    yield peer
    remove(peer)


@pytest.fixture
async def service(settings: Settings, dovecot: Dovecot) -> AsyncIterator[Service]:
    settings.email = dovecot.settings()
    runtime = await Runtime.open(settings)
    from service.connectors import build_connectors
    from service.settings import service_settings

    connector = build_connectors(runtime, service_settings(runtime.settings))["email"]
    assert isinstance(connector, EmailConnector)
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.pipeline_worker(consumer="email").run(stop))
    readers = [asyncio.create_task(job()) for job in connector.background_tasks()]
    try:
        yield Service(runtime, dovecot, connector)
    finally:
        stop.set()
        for task in readers:
            task.cancel()
        await asyncio.gather(worker, *readers, return_exceptions=True)
        await runtime.close()


async def poll(predicate: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    return await poll_until(predicate, timeout, 0.1)


async def tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(Ticket).order_by(Ticket.id)))


def ticket_count_at_least(runtime: Runtime, n: int) -> Callable[[], Awaitable[list[Ticket]]]:
    async def check() -> list[Ticket]:
        found = await tickets(runtime)
        return found if len(found) >= n else []

    return check


CASES = (
    "01_utf8_plain.eml",
    "02_gb2312_base64.eml",
    "03_gbk_qp.eml",
    "07_gb2312_mislabelled_gbk.eml",
    "14_html_only.eml",
    "15_html_only_meta_gbk.eml",
    "19_attachments_rfc2047_and_rfc2231_gbk.eml",
)


async def test_delivered_mails_become_tickets_with_their_text(service: Service) -> None:
    by_subject: dict[str, str] = {}
    for index, name in enumerate(CASES):  # one sender each: no flood guard, no follow-ups
        sender = f"citizen{index}@example.test"
        raw = set_headers(fixture(name), From=f"<{sender}>")
        service.dovecot.deliver(raw)
        by_subject[sender] = name
    found = await poll(ticket_count_at_least(service.runtime, len(CASES)))
    assert len(found) == len(CASES)
    async with service.runtime.db.read() as session:
        for ticket in found:
            message = await session.scalar(select(Message).where(Message.ticket_id == ticket.id))
            assert message is not None and message.channel == "email"
            sender = message.payload["sender"]["value"]
            expected = EXPECTED[by_subject[sender]]
            if "text" in expected:
                assert ticket.content == expected["text"].strip()
            for piece in expected.get("text_contains", []):
                assert piece in ticket.content
            for piece in expected.get("text_not_contains", []):
                assert piece not in ticket.content
        files = list(await session.scalars(select(AttachmentRecord)))
    assert sorted(f.filename for f in files) == sorted(["现场照片.png", "情况说明（详细）.txt"])
    store = service.runtime.attachments
    assert all(f.storage_key and store.path_of(f.storage_key).exists() for f in files)


def reply(sender: str, ticket_number: str, text: str, n: int) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"张三 <{sender}>"
    mail["To"] = ADDRESS
    mail["Subject"] = "Re: 您的诉求已受理"
    mail["Date"] = format_datetime(time_now())
    mail["Message-ID"] = f"<reply-{n}.{time.time_ns()}@example.test>"
    ack = f"<{make_message_id(ticket_number, DOMAIN)}>"
    mail["In-Reply-To"] = ack
    mail["References"] = ack
    mail.set_content(f"{text}\n\n在 2026年11月21日，12345热线 写道：\n> 您的诉求已受理。\n")
    return mail.as_bytes()


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_a_reply_to_our_acknowledgement_is_a_follow_up(service: Service) -> None:
    service.dovecot.deliver(fixture("01_utf8_plain.eml"))
    (ticket,) = await poll(ticket_count_at_least(service.runtime, 1))
    service.dovecot.deliver(
        reply("zhangsan@example.test", ticket.number, "补充：在幸福路12号。", 1)
    )

    async def follow_ups() -> list[TicketEvent]:
        async with service.runtime.db.read() as session:
            found = await session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == ticket.id,
                    TicketEvent.kind == EventKind.FOLLOW_UP.value,
                )
            )
            return list(found)

    (event,) = await poll(follow_ups)
    assert event.text is not None and event.text.startswith("补充：在幸福路12号。")
    assert "写道" not in event.text  # the quoted acknowledgement is trimmed
    # the same reply from someone else is not theirs to continue: a new request
    service.dovecot.deliver(reply("stranger@example.test", ticket.number, "我也要反映路灯。", 2))
    found = await poll(ticket_count_at_least(service.runtime, 2))
    assert len(found) == 2 and found[1].content.startswith("我也要反映路灯")
    assert len(await follow_ups()) == 1


def _env(settings: Settings, dovecot: Dovecot, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(
        {
            "INTAKE_DATA_DIR": str(settings.data_dir),
            "INTAKE_REDIS_URL": settings.redis_url or "",
            "INTAKE_REDIS_PREFIX": settings.redis_prefix,
            "PYTHONPATH": str(ROOT),
        }
    )
    if settings.database_url:
        env["INTAKE_DATABASE_URL"] = settings.database_url
    for key, value in dovecot.settings(**extra).items():
        env[f"INTAKE_EMAIL__{key.upper()}"] = str(value)
    return env


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = "from service.cli import main; main()"
    with log.open("ab") as out:  # a file, not a pipe: a full pipe would stall the worker
        return subprocess.Popen(
            [sys.executable, "-c", code, "worker", "--only", "email"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_sigkill_mid_batch_then_restart_every_mail_once(
    settings: Settings, dovecot: Dovecot
) -> None:
    total = 400
    # one sender per mail: the same words again from one citizen would be a repeat of their
    # open ticket (intake/pipeline/repeats.py), and many would trip the flood guard
    mails = [
        set_headers(
            fixture("01_utf8_plain.eml" if i % 2 else "03_gbk_qp.eml"),
            Message_ID=f"<kill-{i}@mail.example.test>",
            From=f"<citizen{i}@example.test>",
            Subject=f"诉求 {i}",
        )
        for i in range(total)
    ]
    dovecot.deliver_maildir(mails)
    runtime = await Runtime.open(settings)  # migrates the database before the workers start
    env = _env(settings, dovecot, fetch_batch=25)
    log = settings.data_dir.parent / "email-worker.log"
    inbound = runtime.redis.keys.inbound
    try:
        first = _start_worker(env, log)
        try:
            await poll(lambda: _at_least(runtime, inbound, 30), timeout=60)
        finally:
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        killed_at = await runtime.redis.client.xlen(inbound)
        assert 0 < killed_at < total, "the first reader was not stopped mid-way"
        second = _start_worker(env, log)
        stop = asyncio.Event()
        worker = asyncio.create_task(runtime.pipeline_worker(consumer="kill").run(stop))
        try:
            await poll(ticket_count_at_least(runtime, total), timeout=120)
            await poll(lambda: asyncio.to_thread(lambda: dovecot.status()["messages"] == 0))
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.to_thread(second.wait, 20)
            stop.set()
            await worker
        async with runtime.db.read() as session:
            count = await session.scalar(select(func.count()).select_from(Message))
            distinct = await session.scalar(select(func.count(func.distinct(Message.external_id))))
        assert count == distinct == total
        assert len(await tickets(runtime)) == total
    finally:
        await runtime.close()


async def _at_least(runtime: Runtime, key: str, n: int) -> bool:
    return int(await runtime.redis.client.xlen(key)) >= n
