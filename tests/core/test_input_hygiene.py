"""NUL and other control characters: taken, cleaned and ticketed on every backend, or refused
with a reason; never acknowledged and then lost."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import Message, Ticket
from intake.domain.text_hygiene import clean_data, clean_text
from intake.ingest.deadletter import list_dead
from intake.runtime import Runtime
from service.app import create_app
from tests.core.helpers import drain, request_body, ticket_count

SECRET = "kannel-secret_1"
KANNEL = "/channels/sms/kannel"
HOSTILE_LOOKUPS = (
    {"code": "查询码查询码查询"},
    {"code": "ÄÖÜ"},
    {"code": "ＡＢＣＤ２３４５"},
    {"phone": "１３９１２３４５６７８"},  # full-width digits: a number, but not this one
    {"phone": "abc"},
    {"phone": "1" * 300},
)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The app with the SMS channel on, a small body limit, and no rate limits (the tests
    repeat failed lookups on purpose)."""
    settings.sms = {
        "provider": "kannel",
        "kannel_user": "kannel",
        "kannel_password": "pw",
        "inbound_secret": SECRET,
        "sender": "12345",
    }
    settings.http.max_body_bytes = 64 * 1024
    settings.limits.enabled = False
    runtime = await Runtime.open(settings)
    app = create_app(settings, runtime=runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http, runtime
    await runtime.close()


async def _no_dead_letters(runtime: Runtime) -> None:
    assert await list_dead(runtime.redis.client, runtime.redis.keys) == []


async def _ticket(runtime: Runtime, number: str) -> Ticket:
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None, f"ticket {number} was acknowledged but not written"
    return ticket


def test_clean_text_keeps_text_and_drops_controls() -> None:
    assert clean_text("幸福路\t12号\r\n烧烤店 é €😀") == "幸福路\t12号\r\n烧烤店 é €😀"
    assert clean_text("a\x00b\x07c\x1bd\x7fe\x85f\x9fg\ud800h") == "abcdefgh"
    assert clean_data({"k\x00": ["x\x00", 1, None, ("y\x01",)]}) == {"k": ["x", 1, None, ("y",)]}
    clean = {"a": "b", "n": [1, 2.5, True]}
    assert clean_data(clean) is clean


def test_every_message_is_built_clean() -> None:
    message = InboundMessage(
        channel="sms",
        external_id="id\x00-1",
        sender=SenderIdentity(IdentityKind.PHONE, "+86138\x000013\x008000", display_name="\x85"),
        kind=MessageKind.TEXT,
        received_at=datetime(2026, 1, 1),
        text="路灯\x00坏了\ud800",
        raw={"text": "路灯\x00坏了"},
        fields={"title": "\x1b[31m标题"},
    )
    assert message.external_id == "id-1" and message.text == "路灯坏了"
    assert message.sender.value == "+8613800138000" and message.sender.display_name == ""
    assert message.raw == {"text": "路灯坏了"} and message.fields == {"title": "[31m标题"}
    assert InboundMessage.from_dict(message.to_dict()) == message


async def test_nul_in_json_content_becomes_a_ticket(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    content = "幸福路12号\u0000楼下的烧烤店\u0000每天深夜油烟很大\u0085。"
    response = await client.post(
        "/api/v1/requests", json=request_body(content=content, name="张\u0000三")
    )
    assert response.status_code == 201, response.text
    await drain(runtime)
    ticket = await _ticket(runtime, response.json()["number"])
    assert ticket.content == "幸福路12号楼下的烧烤店每天深夜油烟很大。"
    assert ticket.contact_name == "张三"
    await _no_dead_letters(runtime)
    again = await client.post(
        "/api/v1/requests",
        json=request_body(content=content, name="张\u0000三"),
        headers={"Idempotency-Key": "k"},
    )
    retry = await client.post(
        "/api/v1/requests",
        json=request_body(content=content, name="张\u0000三"),
        headers={"Idempotency-Key": "k"},
    )
    assert again.status_code == retry.status_code == 201  # a retry is not a conflict
    assert retry.json()["number"] == again.json()["number"]


async def test_only_control_characters_is_not_content(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/requests", json=request_body(content="\u0000" * 9))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "content"


async def test_nul_in_a_form_field_becomes_a_ticket(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = (
        "phone=13812345678&request_type=complaint&address=%E5%B9%B8%E7%A6%8F%E8%B7%AF%00"
        "&content=%E8%B7%AF%E7%81%AF%E5%9D%8F%E4%BA%86%00%E5%BE%88%E4%B9%85%E4%BA%86%E8%AF%B7"
        "%E4%BF%AE"
    )
    response = await client.post(
        "/api/v1/requests",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201, response.text
    await drain(runtime)
    ticket = await _ticket(runtime, response.json()["number"])
    assert ticket.content == "路灯坏了很久了请修" and ticket.address == "幸福路"
    await _no_dead_letters(runtime)


async def test_nul_in_sms_text_and_id_becomes_a_ticket(
    service: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = service
    query = (
        f"secret={SECRET}&from=%2B8613912345678&to=12345&id=mo%00-7&coding=0&charset=UTF-8"
        "&ts=2026-11-21+22:43:21&text=%E7%94%B5%E6%A2%AF%00%E5%9D%8F%E4%BA%86%01%E8%AF%B7%E4%BF%AE"
    )
    first = await http.get(f"{KANNEL}?{query}")
    retry = await http.get(f"{KANNEL}?{query}")
    assert first.status_code == retry.status_code == 200, first.text
    await drain(runtime)
    async with runtime.db.read() as session:
        messages = (await session.scalars(select(Message))).all()
        tickets = (await session.scalars(select(Ticket))).all()
    assert [m.external_id for m in messages] == ["mo-7"]  # stripped the same on the retry
    assert [t.content for t in tickets] == ["电梯坏了请修"]
    await _no_dead_letters(runtime)


async def test_sms_id_of_only_control_characters_is_refused(
    service: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = service
    response = await http.get(f"{KANNEL}?secret={SECRET}&from=%2B8613912345678&id=%00%01&text=hi")
    assert 400 <= response.status_code < 500
    assert await runtime.redis.client.xlen(runtime.redis.keys.inbound) == 0


async def test_sms_out_of_range_timestamp_is_taken_with_our_clock(
    service: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = service
    for n, ts in enumerate(("99999999999999999999", "253402300800", "%C2%B2", "1")):
        response = await http.get(
            f"{KANNEL}?secret={SECRET}&from=%2B8613912345678&id=ts-{n}&text=hello&ts={ts}"
        )
        assert response.status_code == 200, (ts, response.text)
    await drain(runtime)
    async with runtime.db.read() as session:
        received = (await session.scalars(select(Message.received_at))).all()
    assert len(received) == 4
    now = runtime.clock()
    assert all(abs(now - at.replace(tzinfo=now.tzinfo)) < timedelta(minutes=5) for at in received)


async def test_dlr_with_hostile_status_and_ts_is_refused_or_taken(
    service: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, _ = service
    base = f"/channels/sms/dlr?secret={SECRET}&ref=job-1&to=%2B8613912345678"
    for status in ("%C2%B2", "9" * 5000, "-1"):
        assert (await http.get(f"{base}&status={status}")).status_code in (400, 422)
    taken = await http.get(f"{base}&status=1&ts=99999999999999999999&answer=ok%00%85")
    assert taken.status_code == 200


async def test_lookup_with_non_ascii_code_is_the_same_404(
    service: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = service
    number = (await client.post("/api/v1/requests", json=request_body())).json()["number"]
    for drained in (False, True):  # the pending record, then the ticket
        if drained:
            await drain(runtime)
        for params in HOSTILE_LOOKUPS:
            existing = await client.get(f"/api/v1/requests/{number}", params=params)
            missing = await client.get("/api/v1/requests/2000010100001", params=params)
            assert existing.status_code == missing.status_code == 404, params
            assert existing.json() == missing.json()


async def test_staff_list_cursor_is_bounded(client: httpx.AsyncClient, runtime: Runtime) -> None:
    from intake.directory.accounts import add_staff
    from intake.domain.enums import Role

    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name="李娜", role=Role.AGENT, department=None, catalog=runtime.catalog
        )
    auth = {"Authorization": f"Bearer {token}"}
    for before in ("9223372036854775808", "-1", "0", "1e3", "99999999999999999999999999"):
        response = await client.get("/api/v1/tickets", params={"before_id": before}, headers=auth)
        assert response.status_code == 422, (before, response.text)
    largest = await client.get(
        "/api/v1/tickets", params={"before_id": str(2**63 - 1)}, headers=auth
    )
    assert largest.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/requests/2026%00",
        "/api/v1/requests/2026%FF%FE",
        "/api/v1/requests/2026?code=AB%00CD",
        "/api/v1/requests/2026?code=%C3%28",
        "/api/v1/requests/2026?phone=138%0012345678",
        "/status?number=2026%00&code=X",
        "/api/v1/tickets?q=%00",
        "/api/v1/tickets?q%00=1",
        "/r/1-1-abc%00",
    ],
)
async def test_control_characters_in_urls_are_400(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 400, response.text
    assert response.json()["field"] in ("path", "query")


async def test_unicode_in_urls_is_fine(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/requests/工单?code=查询码")
    assert response.status_code == 404


async def test_body_over_the_limit_is_413_and_nothing_is_written(
    service: tuple[httpx.AsyncClient, Runtime], settings: Settings, tmp_path: Path
) -> None:
    http, runtime = service
    parts = {f"part{i}": ("f.bin", b"x" * 8192, "application/octet-stream") for i in range(20)}
    response = await http.post(
        "/api/v1/requests",
        data={k: v for k, v in request_body().items() if v is not None},
        files=parts,
    )
    assert response.status_code == 413, response.text
    assert "请求内容过大" in response.json()["detail"]
    await _nothing_taken(runtime, settings)


async def test_chunked_body_over_the_limit_is_413(
    service: tuple[httpx.AsyncClient, Runtime], settings: Settings
) -> None:
    http, runtime = service
    boundary = "b0undary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in request_body().items()
    ).encode()

    async def chunks() -> AsyncIterable[bytes]:
        yield head
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '.encode()
        yield b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
        for _ in range(100):  # 800 KiB against a 64 KiB limit
            yield b"\x89PNG" * 2048
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await http.post(
        "/api/v1/requests",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text
    json_chunks = await http.post(
        "/api/v1/requests",
        content=_json_chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert json_chunks.status_code == 413
    await _nothing_taken(runtime, settings)


async def test_declared_length_over_the_limit_is_413_before_reading(
    service: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, _ = service
    for path in ("/api/v1/requests", "/api/v1/tickets/1/actions/note", "/nowhere"):
        response = await http.post(path, content=b"{}" * (40 * 1024))
        assert response.status_code == 413, path
    under = await http.post("/api/v1/requests", json=request_body())
    assert under.status_code == 201
    bad_length = await http.post(
        "/api/v1/requests", content=b"{}", headers={"Content-Length": "1e3"}
    )
    assert bad_length.status_code == 400


async def _json_chunks() -> AsyncIterable[bytes]:
    yield b'{"phone": "13812345678", "content": "'
    for _ in range(100):
        yield "很长的诉求".encode() * 200
    yield b'"}'


async def _nothing_taken(runtime: Runtime, settings: Settings) -> None:
    assert await runtime.redis.client.xlen(runtime.redis.keys.inbound) == 0
    await drain(runtime)
    assert await ticket_count(runtime) == 0
    attachments = settings.data_dir / "attachments"
    assert not attachments.exists() or not any(p.is_file() for p in attachments.rglob("*"))
