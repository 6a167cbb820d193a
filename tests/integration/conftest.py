"""Fixtures of the integration tests: the app with the Open311 and report routers mounted,
and the integration tables emptied (the shared PostgreSQL database outlives each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from intake.config import Settings
from intake.runtime import Runtime
from service.app import create_app

INTEGRATION_TABLES = (
    "webhook_dead_letters, department_webhooks, open311_requests, api_keys, audit_log"
)


@pytest.fixture
async def clean_runtime(runtime: Runtime) -> Runtime:
    if runtime.db.dialect == "postgresql":
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {INTEGRATION_TABLES} RESTART IDENTITY CASCADE"))
    return runtime


@pytest.fixture
async def app_client(
    clean_runtime: Runtime, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=clean_runtime)  # Open311 and reports mounted
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
