"""Rate limits: guessing a lookup through the status page or the API, X-Forwarded-For from
strangers and from trusted proxies, floods of one phone or one address, and retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from intake.api.client_ip import client_ip
from intake.config import Settings, load_settings
from intake.domain.errors import ConfigurationError
from intake.runtime import Runtime
from service.app import create_app
from tests.core.helpers import drain, request_body, ticket_count

STRANGER, CITIZEN, PROXY = "203.0.113.7", "198.51.100.9", "192.0.2.10"
ClientAt = Callable[[str], httpx.AsyncClient]
OpenRuntime = Callable[[], Awaitable[Runtime]]


@pytest.fixture
async def opened(settings: Settings) -> AsyncIterator[tuple[OpenRuntime, ClientAt]]:
    """The service, opened after the test set its limits; `client_at(ip)` talks from `ip`.
    Refusals are answered at once (no pause) unless a test asks for one."""
    settings.limits.refusal_pause_s = 0
    async with AsyncExitStack() as stack:
        runtimes: list[Runtime] = []

        def client_at(ip: str) -> httpx.AsyncClient:
            if not runtimes:
                raise RuntimeError("open the runtime first")
            app = create_app(settings, runtime=runtimes[0])
            transport = httpx.ASGITransport(app=app, client=(ip, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            stack.push_async_callback(client.aclose)
            return client

        async def open_runtime() -> Runtime:
            runtime = await Runtime.open(settings)
            stack.push_async_callback(runtime.close)
            runtimes.append(runtime)
            return runtime

        yield open_runtime, client_at


async def _filed(client: httpx.AsyncClient, **overrides: Any) -> dict[str, str]:
    response = await client.post("/api/v1/requests", json=request_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _status(client: httpx.AsyncClient, number: str, code: str, **kw: Any) -> httpx.Response:
    return await client.post("/status", data={"number": number, "code": code}, **kw)


async def test_guessing_codes_on_the_status_page_is_stopped(opened: Any) -> None:
    open_runtime, client_at = opened
    await open_runtime()
    ticket = await _filed(client_at(CITIZEN))
    stranger = client_at(STRANGER)
    answers = [await _status(stranger, ticket["number"], f"+86139{i:08d}") for i in range(30)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [404] * 5 and codes[5:] == [429] * 25, codes
    refused = answers[-1]
    assert int(refused.headers["Retry-After"]) >= 1 and "查询失败次数过多" in refused.text
    # no oracle: the right code from the stranger's address is refused as well
    assert (await _status(stranger, ticket["number"], ticket["query_code"])).status_code == 429
    api = await stranger.get(
        f"/api/v1/requests/{ticket['number']}", params={"code": ticket["query_code"]}
    )
    assert api.status_code == 429 and "查询失败次数过多" in api.json()["detail"]
    # the citizen asking from elsewhere is not locked out by the stranger's failures
    mine = await _status(client_at(CITIZEN), ticket["number"], ticket["query_code"])
    assert mine.status_code == 200 and "待受理" in mine.text


async def test_api_guessing_is_stopped_and_counts_with_the_page(opened: Any) -> None:
    open_runtime, client_at = opened
    await open_runtime()
    ticket = await _filed(client_at(CITIZEN))
    stranger, url = client_at(STRANGER), f"/api/v1/requests/{ticket['number']}"
    for i in range(3):
        assert (await stranger.get(url, params={"phone": f"1390000{i:04d}"})).status_code == 404
    for i in range(2):
        assert (await _status(stranger, ticket["number"], f"WRONG{i:03d}")).status_code == 404
    refused = await stranger.get(url, params={"code": "WRONG999"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers


async def test_rotating_forwarded_for_from_a_stranger_changes_nothing(opened: Any) -> None:
    open_runtime, client_at = opened
    await open_runtime()
    ticket = await _filed(client_at(CITIZEN))
    stranger = client_at(STRANGER)
    codes = [
        (
            await _status(
                stranger,
                ticket["number"],
                f"GUESS{i:03d}",
                headers={"X-Forwarded-For": f"10.{i}.0.1"},
            )
        ).status_code
        for i in range(10)
    ]
    assert codes == [404] * 5 + [429] * 5


async def test_a_trusted_proxys_forwarded_for_is_the_client(
    opened: Any, settings: Settings
) -> None:
    settings.http.trusted_proxies = ["192.0.2.0/24"]
    open_runtime, client_at = opened
    await open_runtime()
    ticket = await _filed(client_at(CITIZEN))
    proxy = client_at(PROXY)
    for i in range(5):  # the stranger prepends addresses of its own: only the proxy's counts
        spoofed = {"X-Forwarded-For": f"10.0.0.{i}, {STRANGER}"}
        answer = await _status(proxy, ticket["number"], f"GUESS{i:03d}", headers=spoofed)
        assert answer.status_code == 404
    as_stranger = {"X-Forwarded-For": STRANGER}
    refused = await _status(proxy, ticket["number"], ticket["query_code"], headers=as_stranger)
    assert refused.status_code == 429
    as_citizen = {"X-Forwarded-For": CITIZEN}
    mine = await _status(proxy, ticket["number"], ticket["query_code"], headers=as_citizen)
    assert mine.status_code == 200


async def test_lookups_per_address_and_failures_per_number(opened: Any, settings: Settings) -> None:
    settings.limits.lookups_per_ip = "3/minute"
    settings.limits.lookup_failures_per_number = "4/hour"
    open_runtime, client_at = opened
    await open_runtime()
    ticket = await _filed(client_at(CITIZEN))
    number, code = ticket["number"], ticket["query_code"]
    mine = client_at(CITIZEN)
    assert [(await _status(mine, number, code)).status_code for _ in range(4)] == [200] * 3 + [429]
    assert "查询过于频繁" in (await _status(mine, number, code)).text
    # one failure each from four addresses: the number's failures are used up for everyone
    for i in range(4):
        assert (await _status(client_at(f"203.0.113.{i + 20}"), number, "X")).status_code == 404
    assert (await _status(client_at("203.0.113.99"), number, code)).status_code == 429


async def test_the_status_form_posts_and_keeps_the_code_out_of_urls(opened: Any) -> None:
    open_runtime, client_at = opened
    await open_runtime()
    citizen = client_at(CITIZEN)
    ticket = await _filed(citizen)
    empty = await citizen.get("/status")
    assert empty.status_code == 200 and 'method="post"' in empty.text
    prefilled = await citizen.get(
        "/status", params={"number": ticket["number"], "code": ticket["query_code"]}
    )
    assert prefilled.status_code == 200 and f'value="{ticket["number"]}"' in prefilled.text
    assert "待受理" not in prefilled.text  # a code in a URL is no longer looked up
    form = await citizen.post(
        "/api/v1/requests",
        data=request_body(content="第二件事：小区门口路灯不亮"),
        headers={"Accept": "text/html"},
    )
    assert form.status_code == 201 and "?number=" not in form.text and "code=" not in form.text


async def test_one_phone_beyond_its_limit_is_refused_and_makes_no_ticket(opened: Any) -> None:
    open_runtime, client_at = opened
    runtime = await open_runtime()
    citizen = client_at(CITIZEN)
    for i in range(5):
        await _filed(citizen, content=f"第{i}件事：楼下烧烤油烟扰民")
    refused = await citizen.post("/api/v1/requests", json=request_body(content="第六件事情"))
    assert refused.status_code == 429 and "提交过于频繁" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    as_form = await citizen.post("/api/v1/requests", data=request_body(content="表单提交的第七件"))
    assert as_form.status_code == 429
    page = await citizen.post(
        "/api/v1/requests",
        data=request_body(content="网页提交的第八件"),
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 429 and "提交过于频繁" in page.text and "Retry-After" in page.headers
    await _filed(citizen, phone="13900001111")  # another citizen behind the same address
    await drain(runtime)
    assert await ticket_count(runtime) == 6


async def test_a_retry_of_an_accepted_request_gets_its_receipt(opened: Any) -> None:
    open_runtime, client_at = opened
    await open_runtime()
    citizen = client_at(CITIZEN)
    receipts = []
    for i in range(5):
        key = {"Idempotency-Key": f"key-{i}"}
        body = request_body(content=f"第{i}件事：楼下烧烤油烟扰民")
        receipts.append((await citizen.post("/api/v1/requests", json=body, headers=key)).json())
    retry = await citizen.post(
        "/api/v1/requests",
        json=request_body(content="第0件事：楼下烧烤油烟扰民"),
        headers={"Idempotency-Key": "key-0"},
    )
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["number"] == receipts[0]["number"]
    new = await citizen.post(
        "/api/v1/requests",
        json=request_body(content="另一件新事"),
        headers={"Idempotency-Key": "k5"},
    )
    assert new.status_code == 429


async def test_one_address_beyond_its_limit_is_refused(opened: Any, settings: Settings) -> None:
    settings.limits.submissions_per_ip = "3/minute"
    open_runtime, client_at = opened
    await open_runtime()
    office = client_at(STRANGER)
    for i in range(3):
        await _filed(office, phone=f"1390000{i:04d}")
    refused = await office.post("/api/v1/requests", json=request_body(phone="13900009999"))
    assert refused.status_code == 429
    await _filed(client_at(CITIZEN), phone="13900009999")


async def test_a_refused_flood_waits_for_its_answer(opened: Any, settings: Settings) -> None:
    settings.limits.submissions_per_sender = "1/hour"
    settings.limits.refusal_pause_s = 0.3
    open_runtime, client_at = opened
    await open_runtime()
    citizen = client_at(CITIZEN)
    await _filed(citizen)
    started = time.monotonic()
    refused = await citizen.post("/api/v1/requests", json=request_body(content="又一件事情"))
    assert refused.status_code == 429 and time.monotonic() - started >= 0.3


async def test_limits_can_be_turned_off(opened: Any, settings: Settings) -> None:
    settings.limits.enabled = False
    open_runtime, client_at = opened
    await open_runtime()
    citizen = client_at(CITIZEN)
    for i in range(8):
        await _filed(citizen, content=f"第{i}件事：楼下烧烤油烟扰民")


async def test_failure_delay_grows_and_a_success_clears_it(runtime: Runtime) -> None:
    delay = runtime.limiter.lookup_delay
    waits = [await delay.failed("203.0.113.1", "N1") for _ in range(8)]
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8]
    left = await delay.check("203.0.113.1", "N1")
    assert left is not None and 1 <= left <= 8
    assert await delay.check("203.0.113.2", "N1") is None  # another address owes nothing
    await delay.succeeded("203.0.113.1", "N1")
    assert await delay.check("203.0.113.1", "N1") is None


def _scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 1234) if peer else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("scope", "trusted", "expected"),
    [
        (_scope("203.0.113.7", "1.2.3.4"), [], "203.0.113.7"),
        (_scope("203.0.113.7", "1.2.3.4"), ["10.0.0.0/8"], "203.0.113.7"),
        (_scope("10.1.1.1", "198.51.100.9"), ["10.0.0.0/8"], "198.51.100.9"),
        (_scope("10.1.1.1", "1.2.3.4, 198.51.100.9"), ["10.0.0.0/8"], "198.51.100.9"),
        (_scope("10.1.1.1", "1.2.3.4", "198.51.100.9, 10.2.2.2"), ["10.0.0.0/8"], "198.51.100.9"),
        (_scope("10.1.1.1", "10.3.3.3, 10.2.2.2"), ["10.0.0.0/8"], "10.3.3.3"),
        (_scope("10.1.1.1"), ["10.0.0.0/8"], "10.1.1.1"),
        (_scope("::ffff:10.1.1.1", "198.51.100.9"), ["10.1.1.1"], "198.51.100.9"),
        (_scope("2001:db8::1", "198.51.100.9"), ["2001:db8::/32"], "198.51.100.9"),
        (_scope(None, "198.51.100.9"), ["10.0.0.0/8"], None),
    ],
)
def test_client_ip(scope: dict[str, Any], trusted: list[str], expected: str | None) -> None:
    assert client_ip(scope, trusted) == expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"limits": {"submissions_per_sender": "5 per fortnight"}},
        {"limits": {"lookups_per_ip": "many"}},
        {"http": {"trusted_proxies": ["10.0.0.0/33"]}},
    ],
)
def test_unreadable_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(**overrides)
