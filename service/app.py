"""The application factory: the one place that wires channels, core and notifier together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from channels.open311.routes import Open311Parts
from channels.open311.routes import router as open311_router
from intake.api import calls, health, metrics, public, staff
from intake.api.body_limit import BodyLimit
from intake.api.docs import install_docs
from intake.api.errors import install_error_handlers
from intake.api.fast_lanes import FastLanes
from intake.api.http_metrics import HttpMetrics
from intake.api.outages import install_outage_answers
from intake.api.request_hygiene import RequestHygiene
from intake.api.security_headers import SecurityHeaders
from intake.config import Settings
from intake.console.web import router as console_router
from intake.reports.console_page import router as reports_page_router
from intake.reports.routes import router as reports_router
from intake.runtime import Runtime
from notifier.routes import router as rating_router
from service.connectors import build_connectors
from service.process import settle_heap
from service.settings import load_settings, service_settings
from service.wiring import notifier_parts, open_runtime, plug

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the HTTP app; with `runtime` given, the caller owns its life cycle."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        if owned:
            app.state.runtime = await open_runtime(settings)
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
        docs_url=None,  # served from local assets by install_docs
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(FastLanes)
    install_outage_answers(app)  # outside FastLanes: Redis or database down answers 503
    app.add_middleware(HttpMetrics)  # outside FastLanes: it measures the fast routes too
    app.add_middleware(RequestHygiene)  # bad URLs refused before any route or lane
    app.add_middleware(SecurityHeaders)  # every answer, the fast lanes' and refusals' too
    app.add_middleware(BodyLimit, max_bytes=settings.http.max_body_bytes)  # the outermost
    app.include_router(health.router)
    install_docs(app)
    app.include_router(metrics.router)
    app.include_router(public.router)
    app.include_router(staff.router)
    app.include_router(calls.router)
    app.include_router(console_router())
    app.include_router(reports_page_router())
    app.include_router(reports_router())
    if runtime is not None:
        app.state.runtime = runtime if runtime.answers else plug(runtime)
        _mount_channels(app, runtime)
    return app


def _mount_channels(app: FastAPI, runtime: Runtime) -> None:
    app.include_router(open311_router(_open311_parts(runtime)))
    app.include_router(rating_router(notifier_parts(runtime)))
    connectors = build_connectors(runtime, service_settings(runtime.settings))
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
    app.state.raw_query_paths = frozenset(
        path
        for connector in connectors.values()
        for path in getattr(connector, "raw_query_paths", ())
    )
    app.openapi_schema = None  # regenerate with the channel routes
    log.info("channels enabled: %s", ", ".join(connectors) or "none")


def _open311_parts(runtime: Runtime) -> Open311Parts:
    settings = runtime.settings
    return Open311Parts(
        gateway=runtime.gateway,
        db=runtime.db,
        catalog=runtime.catalog,
        limiter=runtime.limiter,
        clock=runtime.clock,
        http=settings.http,
        integration=settings.integration,
        public_url=settings.public_url,
        categories_file=settings.triage.categories_file,
    )


def app_from_env() -> FastAPI:
    """For `uvicorn --factory` and multi-process serving: settings from the environment."""
    return create_app(load_settings())
