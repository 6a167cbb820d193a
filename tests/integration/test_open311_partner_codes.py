"""A partner's own service codes, mapped by the operator to our categories: a mapped code
files the ticket in our category, our codes still work, an unknown code is the spec's error,
and one partner's map is not another's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from channels.open311.partner_codes import check_partner_codes, partner_codes, unknown_targets
from channels.open311.services import load_services, services_file
from intake.config import Settings
from intake.domain.clock import utcnow
from intake.domain.errors import ConfigurationError
from intake.domain.models import Ticket
from intake.integration.apikeys import add_key
from intake.integration.models import Open311Request
from intake.runtime import Runtime
from service.app import create_app
from service.wiring import open_runtime
from tests.core.helpers import drain

CODES = {"city-app": {"POT-01": "cooking-fumes", "LOUD": "noise", "GONE": "no-such-category"}}
FUMES = "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"


def mapped(settings: Settings, codes: dict[str, dict[str, str]]) -> Settings:
    integration = settings.integration.model_copy(update={"open311_service_codes": codes})
    return settings.model_copy(update={"integration": integration})


@pytest.fixture
async def partner_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await open_runtime(mapped(settings, CODES))
    yield runtime
    await runtime.close()


@pytest.fixture
async def partner_client(partner_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(partner_runtime.settings, runtime=partner_runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def key_of(runtime: Runtime, name: str) -> str:
    async with runtime.db.write() as session, session.begin():
        _, key = await add_key(session, name=name, at=utcnow())
    return key


async def post(http: httpx.AsyncClient, key: str, code: str, fmt: str = "json") -> httpx.Response:
    return await http.post(
        f"/open311/v2/requests.{fmt}",
        data={
            "api_key": key,
            "service_code": code,
            "address_string": "幸福路12号",
            "description": FUMES,
            "phone": "13812345678",
        },
    )


async def test_a_mapped_code_files_the_ticket_in_our_category(
    partner_runtime: Runtime, partner_client: httpx.AsyncClient
) -> None:
    key = await key_of(partner_runtime, "city-app")
    answer = await post(partner_client, key, "POT-01")
    assert answer.status_code == 201, answer.text
    number = answer.json()[0]["service_request_id"]
    ours = await post(partner_client, key, "noise")  # our own codes stay accepted
    assert ours.status_code == 201, ours.text
    await drain(partner_runtime)
    async with partner_runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        row = await session.get(Open311Request, number)
    assert ticket is not None and ticket.category == "cooking-fumes"
    assert row is not None and row.service_code == "cooking-fumes"
    shown = await partner_client.get(f"/open311/v2/requests/{number}.json", params={"api_key": key})
    assert shown.status_code == 200 and shown.json()[0]["service_code"] == "cooking-fumes"
    for code in ("POT-01", "cooking-fumes"):  # the partner filters by its own code or ours
        listed = await partner_client.get(
            "/open311/v2/requests.json", params={"api_key": key, "service_code": code}
        )
        assert [r["service_request_id"] for r in listed.json()] == [number]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_codes_are_the_specs_error(
    partner_runtime: Runtime, partner_client: httpx.AsyncClient, fmt: str
) -> None:
    mine, other = await key_of(partner_runtime, "city-app"), await key_of(partner_runtime, "other")
    for key, code in ((mine, "NOPE"), (mine, "GONE"), (other, "POT-01")):
        answer = await post(partner_client, key, code, fmt)
        assert answer.status_code == 404, (code, answer.text)
        if fmt == "json":
            (error,) = answer.json()
            assert error["code"] == 404
            assert f"service_code '{code}' not found" in error["description"]
        else:
            assert answer.text.startswith("<?xml") and "<code>404</code>" in answer.text


def test_the_map_is_checked_against_the_catalogue(settings: Settings) -> None:
    services = load_services(services_file(settings.triage.categories_file))
    assert unknown_targets(CODES, services) == ["city-app: GONE -> no-such-category"]
    assert partner_codes(mapped(settings, CODES).integration, "other") == {}
    check_partner_codes(mapped(settings, {"city-app": {"POT-01": "cooking-fumes"}}))
    with pytest.raises(ConfigurationError, match="GONE -> no-such-category"):
        check_partner_codes(mapped(settings, CODES))
