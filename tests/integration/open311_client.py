"""A GeoReport v2 client written from the specification alone (no code of the service):
paths with a format suffix, form-encoded POST, XML parsed as plain elements."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx


def xml_records(body: bytes, item: str) -> list[dict[str, str | None]]:
    root = ET.fromstring(body)
    return [{child.tag: child.text for child in element} for element in root.iter(item)]


class GeoReportClient:
    def __init__(self, http: httpx.AsyncClient, *, api_key: str | None, fmt: str) -> None:
        self.http, self.api_key, self.fmt = http, api_key, fmt
        self.base = "/open311/v2"

    def _params(self, **params: Any) -> dict[str, Any]:
        if self.api_key:
            params["api_key"] = self.api_key
        return {k: v for k, v in params.items() if v is not None}

    async def _get(self, path: str, item: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.base}/{path}.{self.fmt}", params=self._params(**params)
        )
        assert response.status_code == 200, response.text
        return self._records(response, item)

    def _records(self, response: httpx.Response, item: str) -> list[dict[str, Any]]:
        if self.fmt == "json":
            assert response.headers["content-type"].startswith("application/json")
            data = response.json()
            return data if isinstance(data, list) else [data]
        assert response.headers["content-type"].startswith("text/xml")
        assert response.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") or (
            response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        )
        return xml_records(response.content, item)

    async def services(self) -> list[dict[str, Any]]:
        return await self._get("services", "service")

    async def service_definition(self, code: str) -> bytes | dict[str, Any]:
        response = await self.http.get(f"{self.base}/services/{code}.{self.fmt}")
        assert response.status_code == 200, response.text
        return response.json() if self.fmt == "json" else response.content

    async def post(self, **fields: Any) -> list[dict[str, Any]]:
        response = await self.http.post(
            f"{self.base}/requests.{self.fmt}", data=self._params(**fields)
        )
        assert response.status_code in (200, 201), response.text
        return self._records(response, "request")

    async def requests(self, **params: Any) -> list[dict[str, Any]]:
        return await self._get("requests", "request", **params)

    async def request(self, rid: str) -> list[dict[str, Any]]:
        return await self._get(f"requests/{rid}", "request")

    async def token(self, token: str) -> list[dict[str, Any]]:
        return await self._get(f"tokens/{token}", "request")

    async def updates(self, **params: Any) -> list[dict[str, Any]]:
        return await self._get("servicerequestupdates", "request_update", **params)
