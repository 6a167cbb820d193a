"""Staff authentication: no valid token is 401 with `WWW-Authenticate: Bearer`; a known staff
member whose role may not act is 403."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from intake.domain.enums import Role
from intake.domain.models import Staff
from intake.runtime import Runtime
from tests.core.test_staff_api import _act, _staff, _ticket


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "itk_no_scheme",
        "Bearer itk_wrong_token",
        "Bearer " + "x" * 5000,
        "Bearer itk_é".encode(),
    ],
)
async def test_no_valid_token_is_401(
    client: httpx.AsyncClient, authorization: str | bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for path in ("/api/v1/tickets", "/api/v1/tickets/2026010100001"):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["detail"]


async def test_an_inactive_account_is_401(client: httpx.AsyncClient, runtime: Runtime) -> None:
    agent = await _staff(runtime, Role.AGENT)
    assert (await client.get("/api/v1/tickets", headers=agent)).status_code == 200
    async with runtime.db.write() as session, session.begin():
        await session.execute(update(Staff).values(active=False))
    refused = await client.get("/api/v1/tickets", headers=agent)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


async def test_a_role_that_may_not_act_stays_403(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    agent = await _staff(runtime, Role.AGENT)
    handler = await _staff(runtime, Role.HANDLER, "housing")
    number = await _ticket(client, runtime)
    await _act(client, number, "dispatch", agent, department="housing")
    await _act(client, number, "extend", handler, days=5, reason="需要协调物业和业委会")
    refused = await _act(client, number, "approve_extension", handler)
    assert refused.status_code == 403 and "www-authenticate" not in refused.headers
