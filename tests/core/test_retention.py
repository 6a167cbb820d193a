"""Retention and erasure: personal data goes, the tickets' facts stay, every run is harmless
to repeat, erasures are audited without the phone in clear."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

import notifier.models  # noqa: F401  (the notifier's tables are dumped too)
from intake.config import RetentionSettings
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    MessageKind,
    SenderIdentity,
)
from intake.domain.models import AttachmentRecord, Base, Message, Ticket
from intake.privacy.audit import AuditEntry
from intake.privacy.erasure import erase_phone
from intake.privacy.personal_data import ERASED
from intake.privacy.retention import purge, retention_loop
from intake.runtime import Runtime
from tests.core.helpers import accept_and_close, drain, request_body
from tests.core.test_cli import _cli

PHONE = "+8613987650422"
NATIONAL = "13987650422"
NAME = "欧阳秀英"
ADDRESS = "翠微路88号3单元"
CONTENT = "翠微路88号门口的路灯坏了一个月晚上很黑"
OTHER_PHONE = "+8613700001111"
OTHER_CONTENT = "人民公园东门的公厕没有水请尽快维修"


async def _file(runtime: Runtime, data: bytes) -> Attachment:
    return await runtime.attachments.save(data, filename="photo.jpg", content_type="image/jpeg")


def _sms(
    external_id: str, text: str, *, phone: str, files: tuple[Attachment, ...] = ()
) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=phone),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text=text,
        attachments=files,
    )


async def _numbers(runtime: Runtime) -> dict[str, str]:
    """Ticket numbers by their content's first characters."""
    async with runtime.db.read() as session:
        rows = await session.execute(select(Ticket.number, Ticket.content))
    return {content[:6]: number for number, content in rows}


async def _facts(runtime: Runtime) -> Counter[tuple[Any, ...]]:
    """What statistics count: tickets by channel, type, category, department, status."""
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(
                Ticket.number,
                Ticket.channel,
                Ticket.request_type,
                Ticket.category,
                Ticket.department,
                Ticket.district,
                Ticket.status,
                Ticket.created_at,
                Ticket.closed_at,
                Ticket.due_at,
            )
        )
    return Counter(tuple(row) for row in rows)


async def _dump(runtime: Runtime) -> str:
    """Every row of every table, as text: where personal data could hide."""
    parts = []
    async with runtime.db.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(select(table))
            parts.extend(repr(tuple(row)) for row in rows)
    return "\n".join(parts)


async def test_purge_removes_old_raw_data_and_keeps_the_facts(runtime: Runtime) -> None:
    old_file = await _file(runtime, b"old ticket's photo")
    new_file = await _file(runtime, b"recent ticket's photo")
    await runtime.gateway.submit(_sms("old", CONTENT, phone=PHONE, files=(old_file,)))
    await runtime.gateway.submit(_sms("new", OTHER_CONTENT, phone=OTHER_PHONE, files=(new_file,)))
    await drain(runtime)
    numbers = await _numbers(runtime)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    await accept_and_close(runtime, numbers[CONTENT[:6]], clock=lambda: long_ago)
    await accept_and_close(runtime, numbers[OTHER_CONTENT[:6]])
    facts = await _facts(runtime)
    old_path = runtime.attachments.path_of(old_file.storage_key or "")
    new_path = runtime.attachments.path_of(new_file.storage_key or "")
    assert old_path.exists() and new_path.exists()

    settings = RetentionSettings(closed_days=365, text_days=1095)
    report = await purge(runtime.db, runtime.attachments, settings=settings, now=_now())
    assert (report.tickets, report.attachments, report.files) == (1, 1, 1)
    assert not old_path.exists() and new_path.exists()
    async with runtime.db.read() as session:
        messages = {m.external_id: m for m in await session.scalars(select(Message))}
        files = await session.scalar(select(func.count()).select_from(AttachmentRecord))
        old = await session.scalar(select(Ticket).where(Ticket.number == numbers[CONTENT[:6]]))
    assert messages["old"].text == "" and messages["old"].payload == {}
    assert messages["new"].text == OTHER_CONTENT and messages["new"].payload
    assert files == 1
    assert old is not None and old.content == CONTENT  # the free text is kept 3 years
    assert await _facts(runtime) == facts

    shorter = RetentionSettings(closed_days=365, text_days=300)
    report = await purge(runtime.db, runtime.attachments, settings=shorter, now=_now())
    assert report.tickets_text == 1
    dump = await _dump(runtime)
    assert CONTENT not in dump and OTHER_CONTENT in dump
    assert await _facts(runtime) == facts
    again = await purge(runtime.db, runtime.attachments, settings=shorter, now=_now())
    assert again.describe() == purge_zero()
    assert await _facts(runtime) == facts


def purge_zero() -> str:
    from intake.privacy.retention import PurgeReport

    return PurgeReport().describe()


def _now() -> datetime:
    return datetime.now(UTC)


async def test_erase_removes_a_citizen_everywhere_and_is_audited(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    photo = await _file(runtime, b"the citizen's photo")
    await runtime.gateway.submit(_sms("s1", CONTENT, phone=PHONE, files=(photo,)))
    await runtime.gateway.submit(_sms("s2", OTHER_CONTENT, phone=OTHER_PHONE))
    web = request_body(phone=NATIONAL, name=NAME, address=ADDRESS, content=CONTENT + "（补充）")
    assert (await client.post("/api/v1/requests", json=web)).status_code == 201
    typed = InboundMessage(  # someone else's WeChat ticket naming the phone as its contact
        channel="wechat",
        external_id="w1",
        sender=SenderIdentity(kind=IdentityKind.WECHAT, value="o-openid-1"),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text="我替邻居反映：" + CONTENT,
        fields={"contact_phone": PHONE},
    )
    await runtime.gateway.submit(typed)
    await drain(runtime)
    facts = await _facts(runtime)
    assert PHONE in await _dump(runtime)
    baseline = await _last_audit_id(runtime)  # PostgreSQL's audit log outlives each test
    file_path = runtime.attachments.path_of(photo.storage_key or "")
    assert file_path.exists()

    report = await erase_phone(
        runtime.db, runtime.attachments, phone=NATIONAL, operator="王主任", now=_now()
    )
    assert report.tickets == 3 and report.citizens == 1 and report.files == 1
    dump = await _dump(runtime)
    for personal in (PHONE, NATIONAL, NAME, ADDRESS, CONTENT):
        assert personal not in dump, personal
    assert ERASED in dump and OTHER_CONTENT in dump and OTHER_PHONE in dump
    assert not file_path.exists()
    assert await _facts(runtime) == facts

    again = await erase_phone(
        runtime.db, runtime.attachments, phone=PHONE, operator="王主任", now=_now()
    )
    assert sum(again.counts().values()) == 0
    async with runtime.db.read() as session:
        audits = list(await session.scalars(select(AuditEntry).where(AuditEntry.id > baseline)))
    assert [(a.operator, a.subject) for a in audits] == [("王主任", "+86139****0422")] * 2
    assert audits[0].details["tickets"] == 3 and audits[1].details["tickets"] == 0
    assert await _facts(runtime) == facts


async def test_the_daily_run_happens_once_across_processes(runtime: Runtime) -> None:
    before = await _purges(runtime)  # PostgreSQL's audit log outlives each test
    stop = asyncio.Event()
    loops = [
        retention_loop(
            runtime.db,
            runtime.redis,
            runtime.attachments,
            settings=runtime.settings.retention,
            clock=runtime.clock,
            stop=stop,
            first_delay_s=0,
        )
        for _ in range(3)
    ]
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        async with asyncio.timeout(20):
            while await _purges(runtime) == before:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the other two had their chance
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert await _purges(runtime) == before + 1


async def _last_audit_id(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.max(AuditEntry.id))) or 0)


async def _purges(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "purge")
        return int(await session.scalar(query) or 0)


async def test_purge_and_erase_commands(runtime: Runtime, client: httpx.AsyncClient) -> None:
    web = request_body(phone=NATIONAL, name=NAME, address=ADDRESS, content=CONTENT)
    assert (await client.post("/api/v1/requests", json=web)).status_code == 201
    await drain(runtime)
    purged = _cli("purge", settings=runtime.settings)
    assert purged.returncode == 0 and "purged: tickets=0" in purged.stdout, purged.stderr
    refused = _cli("erase", "--phone", NATIONAL, settings=runtime.settings)
    assert refused.returncode != 0 and "--operator" in refused.stderr
    bad = _cli("erase", "--phone", "12", "--operator", "王主任", settings=runtime.settings)
    assert bad.returncode == 2 and "--phone" in bad.stderr
    erased = _cli("erase", "--phone", NATIONAL, "--operator", "王主任", settings=runtime.settings)
    assert erased.returncode == 0, erased.stderr
    assert "erased +86139****0422: citizens=1" in erased.stdout and "tickets=1" in erased.stdout
    assert "audit #" in erased.stdout and "by 王主任" in erased.stdout
    assert PHONE not in erased.stdout and NATIONAL not in erased.stdout
    assert NAME not in await _dump(runtime)
