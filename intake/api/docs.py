"""`/docs` (Swagger UI) from assets installed with the service, never from a CDN.

An intranet without internet access gets a working page. The assets are the Swagger UI build
that fastapi-offline ships and keeps current; the page itself is FastAPI's. Its one inline
script (the bootstrap) is allowed by its hash, in a policy of its own: Swagger UI also needs
inline styles and `data:` images, which the service's other pages do not get.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs-assets"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def assets_folder() -> str:
    return str(importlib.resources.files("fastapi_offline") / "static")


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at `/docs` and its assets under `/docs-assets` (build the app with
    `docs_url=None`, so that FastAPI's CDN page is not there)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_own_policy(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - API",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                oauth2_redirect_url=f"{root}{redirect_url}",
                swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
            )
        )

    @app.get(redirect_url, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return with_own_policy(get_swagger_ui_oauth2_redirect_html())


def with_own_policy(page: HTMLResponse) -> HTMLResponse:
    """The page's Content-Security-Policy: its inline scripts by hash, nothing from elsewhere."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body))
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return page
