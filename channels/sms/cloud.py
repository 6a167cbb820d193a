"""Aliyun Dysmsapi `SendSms` behind the same `Sender` interface as Kannel.

Why templates: mainland carriers only accept cloud SMS whose signature (SignName) and template
(TemplateCode) were approved beforehand; our free text cannot be sent. A message names its
template (`OutboundMessage.template`) and the settings map it to the approved code and say
which `params` fill which `${variable}`.

Signing is Aliyun's RPC "signature version 1.0" (help.aliyun.com/document_detail/101343):
sort the parameters, percent-encode names and values per RFC 3986 (space %20, `*` %2A, `~`
kept), join, build `METHOD&%2F&encode(query)` and sign it with HMAC-SHA1 keyed by
`AccessKeySecret + "&"`. The documented example is reproduced in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from channels.base import OutboundMessage, SendResult
from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.domain.phones import mask_phone as mask
from intake.ratelimit.buckets import NoLimit, RateLimiter

from .kannel_out import install_log_redaction, recipient_e164
from .segments import signature_mark
from .settings import SmsSettings, TemplateSpec

log = logging.getLogger(__name__)

ALIYUN_API = "https://dysmsapi.aliyuncs.com"

# Codes worth retrying later (throttling, provider trouble, an account to top up) and codes
# meaning this number cannot be reached by SMS; every other non-OK code is permanent.
ALIYUN_TRANSIENT = {
    "isv.BUSINESS_LIMIT_CONTROL": 60.0,
    "isv.DAY_LIMIT_CONTROL": 3600.0,
    "isv.MINUTE_LIMIT_CONTROL": 60.0,
    "isv.AMOUNT_NOT_ENOUGH": 600.0,
    "isp.SYSTEM_ERROR": None,
    "Throttling.User": 1.0,
    "ServiceUnavailable": None,
}
ALIYUN_UNREACHABLE = {
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.MOBILE_COUNT_OVER_LIMIT",
}


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8 (unreserved A-Z a-z 0-9 - _ . ~ kept)."""
    return quote(value, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(query)}"


def sign(method: str, params: Mapping[str, str], secret: str) -> str:
    digest = hmac.new(
        f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def aliyun_phone(e164: str) -> str:
    """Aliyun wants mainland numbers without +86 and others as country code + number."""
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


def template_params(message: OutboundMessage, spec: TemplateSpec) -> dict[str, str]:
    """Fill the template's variables from the message (params first, then text/ticket)."""
    source: dict[str, Any] = {"text": message.text, "ticket_number": message.ticket_number}
    source.update(message.params)
    if not spec.params:
        return {k: str(v) for k, v in message.params.items()}
    missing = [key for key in spec.params.values() if source.get(key) is None]
    if missing:
        raise PermanentSendError(f"template {spec.code} lacks params {missing}")
    return {var: str(source[key]) for var, key in spec.params.items()}


def pick_template(message: OutboundMessage, settings: SmsSettings) -> TemplateSpec:
    name = message.template or settings.default_template
    spec = settings.templates.get(name) if name else None
    if spec is None:
        raise PermanentSendError(f"no approved SMS template configured for {name!r}")
    return spec


class AliyunSender:
    """`Sender` for Aliyun SendSms (channel "sms"); `OutId` carries our job_key."""

    channel = "sms"

    def __init__(
        self,
        settings: SmsSettings,
        client: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.url = (settings.api_base or ALIYUN_API) + "/"
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None
        self._limiter = limiter or NoLimit()
        install_log_redaction()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def request_params(self, message: OutboundMessage, to: str) -> dict[str, str]:
        spec = pick_template(message, self.settings)
        params = {
            "AccessKeyId": self.settings.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.job_key,
            "PhoneNumbers": aliyun_phone(to),
            "RegionId": self.settings.region,
            "SignName": signature_mark(self.settings.signature).strip("【】"),
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": spec.code,
            "TemplateParam": json.dumps(template_params(message, spec), ensure_ascii=False),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        secret = self.settings.access_key_secret.get_secret_value()
        params["Signature"] = sign("POST", params, secret)
        return params

    async def send(self, message: OutboundMessage) -> SendResult:
        to = recipient_e164(message)
        params = self.request_params(message, to)
        await self._limiter.acquire()
        try:
            response = await self._client.post(self.url, data=params)
        except httpx.TransportError as exc:
            raise TransientSendError(f"Aliyun unreachable: {type(exc).__name__}") from exc
        result = classify_aliyun(response)
        log.info("sms cloud job=%s to=%s -> %s", message.job_key, mask(to), result.detail)
        return result


def classify_aliyun(response: httpx.Response) -> SendResult:
    """`{"Code": "OK", "BizId": …}` is success; other codes per the tables above."""
    try:
        body = response.json()
        code = str(body.get("Code", ""))
    except (ValueError, AttributeError):
        body, code = {}, ""
    if code == "OK":
        return SendResult(provider_id=str(body.get("BizId") or ""), detail="OK")
    detail = f"Aliyun {response.status_code} {code}: {body.get('Message', '')}".strip()
    if code in ALIYUN_TRANSIENT:
        raise TransientSendError(detail, retry_after=ALIYUN_TRANSIENT[code])
    if code in ALIYUN_UNREACHABLE:
        raise UnreachableError(detail)
    if not code and (response.status_code >= 500 or response.status_code == 429):
        raise TransientSendError(detail)
    raise PermanentSendError(detail)
