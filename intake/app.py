"""The application factory: the one place that wires channels, core and notifier together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from intake.api import health, public, staff
from intake.api.errors import install_error_handlers
from intake.api.fast_lanes import FastLanes
from intake.config import Settings
from intake.process import settle_heap
from intake.runtime import Runtime
from notifier.routes import router as rating_router

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the HTTP app; with `runtime` given, the caller owns its life cycle."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        if owned:
            app.state.runtime = await Runtime.open(settings)
            _mount_channels(app, app.state.runtime)
            settle_heap()
        try:
            yield
        finally:
            if owned:
                await app.state.runtime.close()

    app = FastAPI(
        title="12345 hotline intake",
        version="0.1.0",
        description="Citizen requests from every channel become tickets (工单).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(FastLanes)
    app.include_router(health.router)
    app.include_router(public.router)
    app.include_router(staff.router)
    app.include_router(rating_router)
    if runtime is not None:
        app.state.runtime = runtime
        _mount_channels(app, runtime)
    return app


def _mount_channels(app: FastAPI, runtime: Runtime) -> None:
    from channels.registry import build_connectors

    connectors = build_connectors(runtime)
    for connector in connectors.values():
        router = connector.router()
        if router is not None:
            app.include_router(router)
    app.state.connectors = connectors
    app.state.fast_routes = {
        (route.method, route.path): route
        for connector in connectors.values()
        for route in (connector.fast_routes() if hasattr(connector, "fast_routes") else [])
    }
    app.openapi_schema = None  # regenerate with the channel routes
    log.info("channels enabled: %s", ", ".join(connectors) or "none")


def app_from_env() -> FastAPI:
    """For `uvicorn --factory` and multi-process serving: settings from the environment."""
    from intake.config import load_settings

    return create_app(load_settings())
