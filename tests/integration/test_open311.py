"""Open311 GeoReport v2: a client written from the specification lists services, posts a
request, gets its id and follows it to closed, in JSON and XML; privacy and refusals."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy import select

from intake.domain.clock import utcnow
from intake.domain.enums import Role
from intake.domain.lifecycle import Action
from intake.domain.models import Ticket
from intake.integration.apikeys import add_key, revoke_key
from intake.integration.models import ApiKey
from intake.integration_settings import IntegrationSettings
from intake.runtime import Runtime
from service.app import create_app
from tests.core.helpers import drain
from tests.integration.actions import act, staff_member
from tests.integration.open311_client import GeoReportClient, xml_records

FUMES = "幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"


async def new_key(runtime: Runtime, name: str = "city-app") -> str:
    async with runtime.db.write() as session, session.begin():
        _, key = await add_key(session, name=name, at=utcnow())
    return key


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_client_follows_a_request_to_closed(
    app_client: httpx.AsyncClient, clean_runtime: Runtime, fmt: str
) -> None:
    runtime = clean_runtime
    client = GeoReportClient(app_client, api_key=await new_key(runtime), fmt=fmt)
    services = await client.services()
    codes = {s["service_code"]: s for s in services}
    assert "cooking-fumes" in codes and str(codes["noise"]["metadata"]).lower() == "true"
    assert codes["noise"]["type"] == "realtime" and codes["noise"]["group"] == "生态环境局"
    definition = await client.service_definition("cooking-fumes")
    if fmt == "json":
        assert isinstance(definition, dict)
        attribute = definition["attributes"][0]
        assert attribute["code"] == "request_type" and attribute["required"] is False
    else:
        assert isinstance(definition, bytes)
        root = ET.fromstring(definition)
        assert root.tag == "service_definition"
        assert root.findtext("attributes/attribute/datatype") == "singlevaluelist"
        assert len(root.findall("attributes/attribute/values/value")) == 6

    posted = await client.post(
        service_code="cooking-fumes",
        lat="39.9042",
        long="116.4074",
        address_string="幸福路12号",
        description=FUMES,
        first_name="三",
        last_name="张",
        phone="13812345678",
        email="zhang@example.com",
        media_url="https://example.com/photo.jpg",
        **{"attribute[request_type]": "complaint"},
    )
    (receipt,) = posted
    number, token = receipt["service_request_id"], receipt["token"]
    assert number and len(number) == 13 and "查询码" in receipt["service_notice"]
    assert (await client.token(token))[0]["service_request_id"] == number

    pending = (await client.request(number))[0]  # before the pipeline wrote the ticket
    assert pending["status"] == "open" and pending["service_code"] == "cooking-fumes"

    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.channel == "open311"
    assert ticket.contact_phone == "+8613812345678" and ticket.contact_name == "张 三"
    assert ticket.request_type == "complaint" and ticket.latitude == pytest.approx(39.9042)

    agent, _ = await staff_member(runtime, Role.AGENT)
    handler, _ = await staff_member(runtime, Role.HANDLER, "environment")
    await act(runtime, agent, number, Action.ACCEPT)
    await act(runtime, agent, number, Action.DISPATCH, department="environment")
    await act(runtime, handler, number, Action.ACCEPT)
    await act(runtime, handler, number, Action.REPLY, text="已责令商户安装油烟净化器。")
    await act(runtime, agent, number, Action.CLOSE)

    (closed,) = await client.request(number)
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "已责令商户安装油烟净化器。"
    assert closed["agency_responsible"] == "生态环境局"
    assert closed["description"] == FUMES and closed["media_url"].endswith("photo.jpg")
    for name in ("requested_datetime", "updated_datetime"):
        assert closed[name].endswith("+08:00"), closed[name]

    listed = await client.requests(status="closed")
    assert [r["service_request_id"] for r in listed] == [number]
    assert await client.requests(status="open") == []
    assert [r["service_request_id"] for r in await client.requests(service_request_id=number)]

    start = (utcnow() - timedelta(hours=1)).isoformat()
    updates = await client.updates(start_date=start)
    assert [u["service_request_id"] for u in updates] == [number] * len(updates)
    statuses = [u["status"] for u in updates]
    assert statuses[0] == "open" and statuses[-1] == "closed" and "in_progress" in statuses
    assert "已责令商户安装油烟净化器。" in [u["description"] for u in updates]
    ids = [int(u["update_id"]) for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_a_key_sees_only_its_own(
    app_client: httpx.AsyncClient, clean_runtime: Runtime
) -> None:
    mine = GeoReportClient(app_client, api_key=await new_key(clean_runtime, "a"), fmt="json")
    theirs = GeoReportClient(app_client, api_key=await new_key(clean_runtime, "b"), fmt="json")
    (receipt,) = await mine.post(
        service_code="noise", address_string="和平街5号", description="夜间施工噪声很大扰民"
    )
    await drain(clean_runtime)
    number = receipt["service_request_id"]
    assert [r["service_request_id"] for r in await mine.requests()] == [number]
    assert await theirs.requests() == []
    missing = await app_client.get(
        f"/open311/v2/requests/{number}.json", params={"api_key": theirs.api_key}
    )
    assert missing.status_code == 404
    assert missing.json() == [
        {"code": 404, "description": f"service_request_id '{number}' not found"}
    ]
    # the web form's tickets are no partner's
    web = await app_client.post(
        "/api/v1/requests", json={"phone": "13900001111", "content": "小区路灯坏了一个月没人修"}
    )
    assert web.status_code == 201
    await drain(clean_runtime)
    assert len(await mine.requests()) == 1


async def test_without_a_key_only_the_published_redacted_view(
    app_client: httpx.AsyncClient, clean_runtime: Runtime
) -> None:
    partner = GeoReportClient(app_client, api_key=await new_key(clean_runtime), fmt="xml")
    (receipt,) = await partner.post(
        service_code="cooking-fumes",
        lat="39.904211",
        long="116.407413",
        description=FUMES,
        phone="13812345678",
        first_name="三",
        last_name="张",
    )
    await drain(clean_runtime)
    refused = await app_client.get("/open311/v2/requests.xml")
    assert refused.status_code == 403
    errors = xml_records(refused.content, "error")
    assert errors[0]["code"] == "403" and "api_key" in (errors[0]["description"] or "")

    clean_runtime.settings = clean_runtime.settings.model_copy(
        update={"integration": IntegrationSettings(open311_public_view=True)}
    )
    # the routes keep the settings they were mounted with: the published view is a new app
    app = create_app(clean_runtime.settings, runtime=clean_runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        public = GeoReportClient(http, api_key=None, fmt="json")
        (seen,) = await public.request(receipt["service_request_id"])
        assert seen["description"] is None and seen["media_url"] is None
        assert seen["lat"] == 39.9 and seen["long"] == 116.41
        body = (await http.get("/open311/v2/requests.json")).text
    assert "13812345678" not in body and "张" not in body and "烧烤" not in body


async def test_refusals_in_the_spec_format(
    app_client: httpx.AsyncClient, clean_runtime: Runtime
) -> None:
    key = await new_key(clean_runtime)
    cases = [
        ({"service_code": "noise", "description": "噪声扰民很严重"}, 400, "location"),
        ({"address_string": "x路", "description": "噪声扰民很严重"}, 400, "service_code"),
        ({"service_code": "nope", "address_string": "x路", "description": "abcdef"}, 404, "nope"),
        (
            {"service_code": "noise", "lat": "91", "long": "1", "description": "abcdef"},
            400,
            "range",
        ),
        (
            {"service_code": "noise", "address_string": "x路", "description": "吵"},
            400,
            "description",
        ),
    ]
    for fields, code, word in cases:
        response = await app_client.post(
            "/open311/v2/requests.json", data={**fields, "api_key": key}
        )
        assert response.status_code == code, (fields, response.text)
        (error,) = response.json()
        assert error["code"] == code and word in error["description"]
    no_key = await app_client.post(
        "/open311/v2/requests.xml", data={"service_code": "noise", "address_string": "x路"}
    )
    assert no_key.status_code == 403 and no_key.text.startswith("<?xml")
    async with clean_runtime.db.write() as session, session.begin():
        await revoke_key(session, name="city-app", at=utcnow())
    revoked = await app_client.get("/open311/v2/requests.json", params={"api_key": key})
    assert revoked.status_code == 403
    too_long = await app_client.get(
        "/open311/v2/requests.json",
        params={
            "api_key": key,
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-06-01T00:00:00Z",
        },
    )
    assert too_long.status_code == 403  # the revoked key is refused before anything else
    assert (await app_client.get("/open311/v2/services.yaml")).status_code == 400


async def test_window_and_discovery(app_client: httpx.AsyncClient, clean_runtime: Runtime) -> None:
    key = await new_key(clean_runtime)
    span = await app_client.get(
        "/open311/v2/requests.json",
        params={
            "api_key": key,
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-06-01T00:00:00+08:00",
        },
    )
    assert span.status_code == 400 and "90 days" in span.json()[0]["description"]
    bad = await app_client.get(
        "/open311/v2/requests.json", params={"api_key": key, "start_date": "yesterday"}
    )
    assert bad.status_code == 400
    discovery = await app_client.get("/open311/v2/discovery.xml")
    root = ET.fromstring(discovery.content)
    assert (
        root.findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"
    )
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


async def test_keys_are_stored_hashed_and_retries_are_one_ticket(
    app_client: httpx.AsyncClient, clean_runtime: Runtime
) -> None:
    key = await new_key(clean_runtime)
    async with clean_runtime.db.read() as session:
        row = await session.scalar(select(ApiKey))
    assert row is not None and key not in row.key_hash and len(row.key_hash) == 64
    fields = {
        "api_key": key,
        "service_code": "noise",
        "address_string": "和平街5号",
        "description": "夜间施工噪声很大扰民",
    }
    headers = {"Idempotency-Key": "retry-1"}
    first = await app_client.post("/open311/v2/requests.json", data=fields, headers=headers)
    again = await app_client.post("/open311/v2/requests.json", data=fields, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert first.json()[0]["token"] == again.json()[0]["token"]
    changed = await app_client.post(
        "/open311/v2/requests.json",
        data={**fields, "description": "另一件事：路灯坏了很久"},
        headers=headers,
    )
    assert changed.status_code == 409 and changed.json()[0]["code"] == 409
    await drain(clean_runtime)
    async with clean_runtime.db.read() as session:
        tickets = (await session.scalars(select(Ticket))).all()
    assert len(tickets) == 1 and tickets[0].anonymous is True
