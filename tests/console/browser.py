"""A live server and Debian's chromium for the console's browser tests (Playwright).

Under CI=true a missing browser fails the run instead of skipping it."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import unavailable

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        unavailable(f"chromium at {CHROMIUM}")
    return str(found)


async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The app on a free local port, in this event loop (the runtime's connections live here)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the console's test server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


__all__ = ["chromium_path", "pytest", "serve"]
