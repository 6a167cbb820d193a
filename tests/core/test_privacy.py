"""Errors are recorded by type, statement and message id: no personal data in logs, stored
reasons, dead letters or `intake deadletter list`; staff views carry no query code."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Ticket
from intake.error_summary import RedactingFormatter, describe, redacted_traceback
from intake.ingest.deadletter import list_dead
from intake.pipeline.context import Context
from intake.pipeline.steps import DEFAULT_STEPS
from intake.pipeline.worker import PipelineWorker
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body
from tests.core.test_cli import _cli

PHONE = "+8613987650421"
NATIONAL = "13987650421"
NAME = "欧阳秀英"
CONTENT = "楼下垃圾站恶臭难闻请尽快处理谢谢"
ADDRESS = "翠微路88号3单元"
CODE = "QK7ZP2MX"
SECRETS = (PHONE, NATIONAL, NAME, CONTENT, ADDRESS, CODE)


def _sms(external_id: str, body: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=PHONE),
        kind=MessageKind.TEXT,
        received_at=datetime.now(UTC),
        text=body,
    )


async def _duplicate_number(ctx: Context) -> None:
    """A write the database refuses (a unique violation), carrying every personal field, as
    a faulty step of the pipeline would make it."""
    if ctx.message.external_id != "bad":
        return
    session = ctx.batch.session
    existing = (await session.execute(select(Ticket.number, Ticket.citizen_id))).first()
    assert existing is not None
    now = datetime.now(UTC)
    await session.execute(
        insert(Ticket).values(
            number=existing.number,
            query_code=CODE,
            citizen_id=existing.citizen_id,
            channel="sms",
            request_type="complaint",
            status="received",
            title=CONTENT,
            content=CONTENT,
            address=ADDRESS,
            contact_phone=PHONE,
            contact_name=NAME,
            co_departments=[],
            created_at=now,
            updated_at=now,
        )
    )


def _assert_clean(where: str, found: str) -> None:
    for secret in SECRETS:
        assert secret not in found, f"{secret!r} in {where}: {found[:2000]}"


async def test_a_database_error_leaves_no_personal_data_behind(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await runtime.gateway.submit(_sms("ok", "第一条正常的诉求"))
    await drain(runtime)
    failing = PipelineWorker(
        db=runtime.db,
        redis=runtime.redis,
        gateway=runtime.gateway,
        relay=runtime.relay,
        settings=runtime.settings.pipeline,
        steps=(_duplicate_number, *DEFAULT_STEPS),
        consumer="failing",
    )
    await runtime.gateway.submit(_sms("bad", CONTENT))
    await failing.drain(limit_s=30)
    _assert_clean("the log", caplog.text)
    assert "IntegrityError" in caplog.text
    (dead,) = await list_dead(runtime.redis.client, runtime.redis.keys)
    _assert_clean("the dead letter's reason", dead.reason)
    assert "IntegrityError" in dead.reason and "INSERT INTO tickets" in dead.reason
    stored = await runtime.redis.client.hgetall(runtime.redis.keys.attempts)
    _assert_clean("the stored errors", repr(stored))
    listed = _cli("deadletter", "list", settings=runtime.settings)
    assert listed.returncode == 0 and "IntegrityError" in listed.stdout, listed.stderr
    _assert_clean("intake deadletter list", listed.stdout + listed.stderr)


async def test_driver_messages_that_quote_values_are_not_repeated(
    runtime: Runtime, backend: str
) -> None:
    """asyncpg quotes a parameter it cannot encode, PostgreSQL a value it cannot parse and the
    duplicate key in its DETAIL; SQLite names only the constraint."""
    statements = [
        ("SELECT CAST(:v AS integer) + 1", {"v": NATIONAL}),
        ("CREATE TEMPORARY TABLE t_probe (phone varchar(40) UNIQUE)", {}),
        ("INSERT INTO t_probe VALUES (:v)", {"v": PHONE}),
        ("INSERT INTO t_probe VALUES (:v)", {"v": PHONE}),
    ]
    if backend == "postgres":
        statements.insert(1, ("SELECT CAST(CAST(:v AS text) AS integer)", {"v": NATIONAL}))
    errors: list[DBAPIError] = []
    async with runtime.db.engine.connect() as conn:
        for sql, params in statements:
            try:
                async with conn.begin_nested():
                    await conn.execute(text(sql), params)
            except DBAPIError as exc:
                errors.append(exc)
    # the duplicate everywhere; on PostgreSQL the casts too (SQLite casts anything)
    assert len(errors) == (3 if backend == "postgres" else 1)
    for exc in errors:
        line = describe(exc)
        assert type(exc).__name__ in line
        assert "SELECT" in line or "INSERT INTO t_probe" in line
        _assert_clean("describe()", line)
        _assert_clean("the redacted traceback", redacted_traceback(exc))
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, None)
        )
        _assert_clean("a formatted log line", RedactingFormatter().format(record))
    if backend == "postgres":
        assert any("sqlstate=23505" in describe(e) for e in errors)


def test_describe_names_type_and_place_but_not_the_message() -> None:
    try:
        raise ValueError(f"bad phone {PHONE}")
    except ValueError as exc:
        line = describe(exc)
    assert line.startswith("ValueError") and PHONE not in line
    try:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 6379)")
    except OSError as exc:
        assert "6379" in describe(exc)  # where it could not connect helps the operator


async def test_staff_views_carry_no_query_code(client: httpx.AsyncClient, runtime: Runtime) -> None:
    created = await client.post("/api/v1/requests", json=request_body())
    number, code = created.json()["number"], created.json()["query_code"]
    await drain(runtime)
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name="李娜", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
    headers = {"Authorization": f"Bearer {token}"}
    detail = await client.get(f"/api/v1/tickets/{number}", headers=headers)
    listed = await client.get("/api/v1/tickets", headers=headers)
    assert detail.status_code == 200 and listed.status_code == 200
    assert detail.json()["number"] == number
    assert "query_code" not in detail.json()
    assert code not in detail.text and code not in listed.text
