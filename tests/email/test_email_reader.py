"""The mailbox reader against a real Dovecot: into the intake stream, none lost, none twice.

These tests look at what the reader produces (intake stream entries, dead letters, the
mailbox's state); tests/email/test_email_service.py runs the pipeline too.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
import pytest

from channels.email.imap import ImapSession
from channels.email.imap_data import parse_fetch, uid_set
from channels.email.reader import MailboxReader
from channels.email.settings import EmailSettings
from intake.domain.messages import InboundMessage
from intake.ingest.deadletter import list_dead
from intake.runtime import Runtime
from tests.conftest import unavailable
from tests.email.dovecot_peer import (
    USER,
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
NO_IDLE = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS MOVE"


@pytest.fixture
def backend() -> str:
    """The reader never touches the database: one backend is enough here."""
    return "sqlite"


def _start(capability: str | None = None) -> Dovecot:
    if dovecot_binary() is None:
        unavailable("dovecot (apt-get install dovecot-imapd)")
    return start_dovecot(capability)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    peer = _start()
    yield peer
    remove(peer)


@pytest.fixture
def dovecot_without_idle() -> Iterator[Dovecot]:
    peer = _start(NO_IDLE)
    yield peer
    remove(peer)


def reader_for(runtime: Runtime, peer: Dovecot, **extra: Any) -> MailboxReader:
    return MailboxReader(
        EmailSettings(**peer.settings(**extra)),
        gateway=runtime.gateway,
        redis=runtime.redis.client,
        keys=runtime.redis.keys,
        clock=runtime.clock,
        attachments=runtime.attachments,
    )


@asynccontextmanager
async def running(reader: MailboxReader) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(reader.run())
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the reader did not stop when cancelled"


async def poll(predicate: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    return await poll_until(predicate, timeout, 0.05)


async def stream(runtime: Runtime) -> list[InboundMessage]:
    entries = await runtime.redis.client.xrange(runtime.redis.keys.inbound)
    return [InboundMessage.from_dict(orjson.loads(fields["msg"])) for _, fields in entries]


def count_at_least(runtime: Runtime, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(await stream(runtime)) >= n

    return check


def mail(i: int, text: str = "小区门口的路灯坏了") -> bytes:
    raw = fixture("01_utf8_plain.eml")
    return set_headers(
        raw,
        Message_ID=f"<reader-{i}.{random.getrandbits(40)}@mail.example.test>",
        Subject=f"mail {i}",
    )


def keyword_count(peer: Dovecot, keyword: str = "IntakeProcessed") -> int:
    out = peer.doveadm("search", "-u", USER, "mailbox", "INBOX", "keyword", keyword)
    return len(out.split("\n")) - 1 if out.strip() else 0


async def test_mails_reach_the_stream_with_attachments_and_are_moved(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    for name in (
        "01_utf8_plain.eml",
        "02_gb2312_base64.eml",
        "19_attachments_rfc2047_and_rfc2231_gbk.eml",
    ):
        dovecot.deliver(fixture(name))
    reader = reader_for(runtime, dovecot)
    async with running(reader):
        await poll(count_at_least(runtime, 3))
        await poll(lambda: asyncio.to_thread(lambda: dovecot.status("Processed")["messages"] == 3))
    assert dovecot.status("INBOX")["messages"] == 0
    messages = {m.external_id: m for m in await stream(runtime)}
    assert messages["c1.001@mail.example.test"].sender.value == "zhangsan@example.test"
    with_files = [m for m in messages.values() if m.attachments]
    assert len(with_files) == 1
    names = sorted(a.filename for a in with_files[0].attachments)
    assert names == sorted(["现场照片.png", "情况说明（详细）.txt"])
    for item in with_files[0].attachments:
        assert item.storage_key and runtime.attachments.path_of(item.storage_key).exists()
    assert all(isinstance(m.raw, bytes) and m.raw for m in messages.values())  # kept whole


async def test_idle_sees_a_new_mail_without_waiting_for_the_poll(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    reader = reader_for(runtime, dovecot, poll_interval=300, idle_timeout=600)
    async with running(reader):
        await poll(lambda: _true(reader.stats.idles >= 1))
        await asyncio.sleep(0.2)  # let IDLE be acknowledged
        started = time.monotonic()
        dovecot.deliver(mail(1))
        await poll(count_at_least(runtime, 1), timeout=10)
        assert time.monotonic() - started < 10
        await poll(lambda: _true(reader.stats.syncs >= 2))
    assert reader.stats.polls == 0 and reader.stats.idles >= 1


async def test_without_idle_the_reader_polls(
    runtime: Runtime, dovecot_without_idle: Dovecot
) -> None:
    reader = reader_for(runtime, dovecot_without_idle, poll_interval=0.3)
    async with running(reader):
        await poll(lambda: _true(reader.stats.syncs >= 1))
        dovecot_without_idle.deliver(mail(1))
        await poll(count_at_least(runtime, 1))
    assert reader.stats.idles == 0 and reader.stats.polls >= 1


async def test_restart_reads_only_what_is_new(runtime: Runtime, dovecot: Dovecot) -> None:
    for i in range(3):
        dovecot.deliver(mail(i))
    first = reader_for(runtime, dovecot, processed_action="flag")
    async with running(first):
        await poll(count_at_least(runtime, 3))
        await poll(lambda: _true(first.stats.marked == 3))
    for i in range(3, 5):
        dovecot.deliver(mail(i))
    second = reader_for(runtime, dovecot, processed_action="flag")
    async with running(second):
        await poll(count_at_least(runtime, 5))
        await poll(lambda: _true(second.stats.marked == 2))
    assert second.stats.fetched == 2 and second.stats.duplicates == 0
    assert len(await stream(runtime)) == 5
    assert dovecot.status()["messages"] == 5 and keyword_count(dovecot) == 5


async def test_uidvalidity_change_rereads_the_folder_without_duplicates(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    for i in range(3):
        dovecot.deliver(mail(i))
    first = reader_for(runtime, dovecot, processed_action="flag")
    async with running(first):
        await poll(lambda: _true(first.stats.marked == 3))
    # another client cleared our keyword, and the server changed UIDVALIDITY
    dovecot.doveadm("flags", "remove", "-u", USER, "IntakeProcessed", "mailbox", "INBOX", "all")
    dovecot.doveadm("mailbox", "update", "-u", USER, "--uid-validity", "4242", "INBOX")
    dovecot.deliver(mail(3))
    second = reader_for(runtime, dovecot, processed_action="flag")
    async with running(second):
        await poll(lambda: _true(second.stats.marked == 4))
    assert second.stats.resyncs == 1
    assert second.stats.fetched == 4 and second.stats.duplicates == 3
    assert len(await stream(runtime)) == 4
    assert (await second.cursor.load()) is not None
    assert (await second.cursor.load()).uidvalidity == 4242  # type: ignore[union-attr]


async def test_uidvalidity_change_with_lower_uids_loses_nothing(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    dovecot.doveadm("mailbox", "create", "-u", USER, "Hotline")
    for i in range(4):
        dovecot.deliver(mail(i), folder="Hotline")
    first = reader_for(runtime, dovecot, imap_folder="Hotline")
    async with running(first):
        await poll(lambda: _true(first.stats.marked == 4))
    # the folder is re-created: new UIDVALIDITY, and new mail gets UIDs 1, 2 (below the cursor)
    dovecot.doveadm("mailbox", "delete", "-u", USER, "Hotline")
    dovecot.doveadm("mailbox", "create", "-u", USER, "Hotline")
    dovecot.doveadm("mailbox", "update", "-u", USER, "--uid-validity", "777", "Hotline")
    dovecot.deliver(mail(4), folder="Hotline")
    dovecot.deliver(mail(5), folder="Hotline")
    assert dovecot.status("Hotline")["uidnext"] == 3
    second = reader_for(runtime, dovecot, imap_folder="Hotline")
    async with running(second):
        await poll(count_at_least(runtime, 6))
    assert second.stats.resyncs == 1 and len(await stream(runtime)) == 6


async def test_reconnects_after_a_kick_and_a_server_restart(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    reader = reader_for(runtime, dovecot)
    async with running(reader):
        dovecot.deliver(mail(1))
        await poll(count_at_least(runtime, 1))
        await poll(lambda: _true(reader.stats.idles >= 1))
        dovecot.kick()
        dovecot.deliver(mail(2))
        await poll(count_at_least(runtime, 2))
        assert reader.stats.connects >= 2
        await asyncio.to_thread(dovecot.stop)
        dovecot.deliver_maildir([mail(3)])  # delivered (by an MDA) while IMAP is down
        await asyncio.sleep(0.3)
        await asyncio.to_thread(dovecot.start)
        await poll(count_at_least(runtime, 3))
    assert reader.stats.connects >= 3 and reader.stats.failures >= 1
    assert len(await stream(runtime)) == 3


async def test_cancelled_mid_batch_then_restarted_every_mail_once(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    total = 300
    dovecot.deliver_maildir([mail(i) for i in range(total)])
    first = reader_for(runtime, dovecot, fetch_batch=40)
    async with running(first):
        await poll(count_at_least(runtime, 10))
    assert 0 < len(await stream(runtime)) < total  # really stopped in the middle
    second = reader_for(runtime, dovecot, fetch_batch=40)
    async with running(second):
        await poll(count_at_least(runtime, total))
        await poll(lambda: asyncio.to_thread(lambda: dovecot.status()["messages"] == 0))
    ids = [m.external_id for m in await stream(runtime)]
    assert len(ids) == len(set(ids)) == total
    assert dovecot.status("Processed")["messages"] == total


async def test_unreadable_mail_is_dead_lettered_once_with_its_bytes(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    garbage = fixture("38_garbage.eml")
    no_sender = fixture("41_truncated_headers_no_sender.eml")
    dovecot.deliver(garbage)
    dovecot.deliver(no_sender)
    dovecot.deliver(mail(1))
    for _ in range(2):  # the second reader re-reads everything: still one dead letter each
        dovecot.doveadm("flags", "remove", "-u", USER, "IntakeProcessed", "mailbox", "INBOX", "all")
        reader = reader_for(runtime, dovecot, processed_action="flag")
        await runtime.redis.client.delete(reader.cursor.key)
        async with running(reader):
            await poll(lambda r=reader: _true(r.stats.marked == 3))  # type: ignore[misc]
    dead = await list_dead(runtime.redis.client, runtime.redis.keys)
    assert len(dead) == 2
    raws = set()
    for item in dead:
        assert item.reason.startswith("unreadable mail") and item.original_id.startswith("imap:")
        raw = orjson.loads(item.fields["msg"])["raw"]
        raws.add(base64.b64decode(raw["__bytes__"]))
    assert raws == {_normal_eol(garbage), _normal_eol(no_sender)}
    assert len(await stream(runtime)) == 1
    assert keyword_count(dovecot) == 3  # all marked processed: nothing loops


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_tls_and_starttls(runtime: Runtime, dovecot: Dovecot, security: str) -> None:
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    dovecot.deliver(mail(1))
    reader = reader_for(
        runtime, dovecot, imap_security=security, imap_port=port, imap_ca_file=str(dovecot.cert)
    )
    async with running(reader):
        await poll(count_at_least(runtime, 1))


async def test_an_untrusted_certificate_is_refused(dovecot: Dovecot) -> None:
    settings = EmailSettings(**dovecot.settings(imap_security="ssl", imap_port=dovecot.tls_port))
    with pytest.raises(Exception, match=r"(?i)certificate"):
        await ImapSession.open(settings)


async def test_backoff_grows_exponentially_with_jitter(runtime: Runtime, dovecot: Dovecot) -> None:
    reader = reader_for(runtime, dovecot, backoff_initial=1.0, backoff_max=60.0)
    delays = [reader.backoff_delay(n) for n in range(12)]
    for n, delay in enumerate(delays):
        cap = min(60.0, 2.0**n)
        assert cap / 2 <= delay <= cap
    assert len({round(d, 6) for d in delays[8:]}) > 1  # jittered, not a fixed schedule


def test_uid_sets_and_the_uid_star_gotcha() -> None:
    assert uid_set([5, 1, 2, 3, 7, 8, 10]) == "1:3,5,7:8,10"
    lines: list[bytes | bytearray] = [
        b'3 FETCH (UID 9 INTERNALDATE "21-Nov-2026 10:00:00 +0800" BODY[] {5}',
        bytearray(b"hello"),
        b")",
        b"4 FETCH (FLAGS (\\Seen))",
        b"Fetch completed.",
    ]
    mails = parse_fetch(lines)
    assert [(m.uid, m.raw) for m in mails] == [(9, b"hello")]
    assert mails[0].internaldate is not None and mails[0].internaldate.hour == 10


async def test_uid_search_above_the_last_uid_is_filtered(dovecot: Dovecot) -> None:
    dovecot.deliver(mail(1))
    dovecot.deliver(mail(2))
    session = await ImapSession.open(EmailSettings(**dovecot.settings()))
    try:
        await session.select("INBOX")
        assert await session.uids_after(0) == [1, 2]
        assert await session.uids_after(2) == []  # the server answers UID 2 for "3:*"
        assert [m.uid for m in await session.fetch([2])] == [2]
    finally:
        await session.close()


async def _true(value: bool) -> bool:
    return value


def _normal_eol(raw: bytes) -> bytes:
    """What IMAP can hand back of `raw`: CRLF line ends, and Dovecot sends NUL as 0x80."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").replace(b"\x00", b"\x80")
