"""Accounts, sign-in and tickets for the console tests."""

from __future__ import annotations

import re
from typing import Any

import httpx

from intake.console.accounts import create_account
from intake.directory.departments import load_catalog
from intake.domain.enums import Role
from intake.runtime import Runtime
from tests.core.helpers import drain, request_body

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def make_staff(
    runtime: Runtime, name: str, role: Role, department: str | None = None
) -> str:
    """A staff member with the test password; returns their API token."""
    async with runtime.db.write() as session, session.begin():
        _, token = await create_account(
            session,
            name=name,
            role=role,
            department=department,
            password=PASSWORD,
            catalog=await load_catalog(session),
        )
    return token


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/console/login")
    return await http.post(
        "/console/login",
        data={"username": name, "password": password, "csrf": csrf_of(page.text)},
    )


async def act(
    http: httpx.AsyncClient, number: str, action: str, **fields: Any
) -> httpx.Response:
    page = await http.get(f"/console/tickets/{number}")
    data = {"action": action, "csrf": csrf_of(page.text), **fields}
    return await http.post(f"/console/tickets/{number}/act", data=data)


async def web_request(http: httpx.AsyncClient, runtime: Runtime, **body: Any) -> str:
    response = await http.post("/api/v1/requests", json=request_body(**body))
    assert response.status_code == 201, response.text
    await drain(runtime)
    return str(response.json()["number"])
