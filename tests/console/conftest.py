"""The console under test: the app factory's app, which mounts the console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from intake.config import Settings
from intake.console import passwords
from intake.directory.departments import open_catalog
from intake.runtime import Runtime
from service.app import create_app


@dataclass
class Console:
    runtime: Runtime
    app: FastAPI
    http: httpx.AsyncClient


def console_app(settings: Settings, runtime: Runtime) -> FastAPI:
    return create_app(settings, runtime=runtime)  # the factory mounts the console


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id through the same functions, at the lowest cost: the library's defaults
    take most of a second per sign-in on a loaded test machine, and the browser tests sign in
    and create accounts a dozen times."""
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_HASHER", quick)
    monkeypatch.setattr(passwords, "_DUMMY", quick.hash("not a password of anybody's"))


@pytest.fixture
async def console(runtime: Runtime, settings: Settings) -> AsyncIterator[Console]:
    await open_catalog(runtime.db, departments_file=settings.catalog.departments_file)
    app = console_app(settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Console(runtime=runtime, app=app, http=http)
