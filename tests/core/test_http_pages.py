"""HTML pages: security headers on every one, and `/docs` from local assets only."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from tests.core.helpers import request_body

BROWSER = {"Accept": "text/html"}
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _assert_protected(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    for name, value in HEADERS.items():
        assert answer.headers[name] == value, (answer.url, name)
    policy = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "http" not in policy  # nothing from another origin
    return policy


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_citizen_pages_carry_the_headers_and_no_script(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/v1/requests", json=request_body())).json()
    pages = [
        await client.get("/"),
        await client.get("/status"),
        await client.get("/status", params={"number": created["number"]}),
        await client.post("/status", data={"number": created["number"], "code": "WRONG123"}),
        await client.post(
            "/status", data={"number": created["number"], "code": created["query_code"]}
        ),
        await client.post(  # the form again, with its errors
            "/api/v1/requests", data={"phone": "1", "content": ""}, headers=BROWSER
        ),
        await client.post("/api/v1/requests", data=request_body(), headers=BROWSER),  # confirmed
        await client.get("/r/not-a-valid-token"),
    ]
    for page in pages:
        policy = _assert_protected(page)
        assert "script-src 'self';" in policy, page.url
        assert "<script" not in page.text.lower(), page.url  # the policy runs none inline


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_json_answers_are_not_sniffed(client: httpx.AsyncClient) -> None:
    for answer in (
        await client.post("/api/v1/requests", json=request_body()),  # the fast lane
        await client.get("/api/v1/tickets"),  # a refusal
        await client.get("/openapi.json"),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_docs_use_local_assets_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    policy = _assert_protected(page)
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "cdn" not in page.text.lower()
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
    kinds = {u.rsplit(".", 1)[-1] for u in urls}
    assert {"js", "css", "json"} <= kinds, urls
    # the bootstrap script runs under the page's policy by its hash, and nothing else inline
    for script in re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert (await client.get("/redoc")).status_code == 404  # FastAPI's CDN page is gone
