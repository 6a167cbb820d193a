"""Outbound SMS through Kannel's smsbox `sendsms` (the notifier's `Sender` for channel "sms").

What matters, learned on the real gateway (protocols.md §1.2, §3):
- Chinese text without `coding=2` reaches the SMSC as `??`: every non-GSM text goes out as
  UCS-2 with `charset=UTF-8` (we send UTF-8, Kannel converts).
- The dlr-url carries our own delivery id (`OutboundMessage.job_key`), because Kannel's ids
  differ per callback.
- Kannel answers `202 "0: Accepted for delivery"` or `202 "3: Queued for later delivery"`;
  403 is bad credentials or a denied number, 400 a bad request, 503 a temporary failure.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

import httpx

from channels.base import OutboundMessage, SendResult
from intake.errors import InvalidInput, PermanentSendError, TransientSendError, UnreachableError
from intake.messages import IdentityKind

from .dlr import build_dlr_url
from .phones import mask, normalize
from .ratelimit import NoLimit, RateLimiter
from .segments import Encoding, count_segments, fit
from .settings import SmsSettings

log = logging.getLogger(__name__)

# `name=value` or, inside the percent-encoded dlr-url, `name%3Dvalue` (ends at `%26`).
_SECRET_PARAMS = re.compile(r"(password|pass|secret)(=|%3D)(?:(?!%26)[^&\s\"])*", re.IGNORECASE)


_PERSONAL_PARAMS = re.compile(r"([?&](?:to|text)=)([^&\s\"]*)")


def _hide_personal(match: re.Match[str]) -> str:
    name, value = match.group(1), unquote_plus(match.group(2))
    return name + (mask(value) if name.endswith("to=") else f"<{len(value)} chars>")


class RedactSecrets(logging.Filter):
    """httpx logs every request URL at INFO; sendsms URLs carry the Kannel password, the
    citizen's number and the message text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        text = _SECRET_PARAMS.sub(r"\1\2***", str(record.msg))
        record.msg = _PERSONAL_PARAMS.sub(_hide_personal, text)
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())


def recipient_e164(message: OutboundMessage) -> str:
    """The recipient as a valid E.164 number, or a `PermanentSendError`/`UnreachableError`."""
    if message.recipient.kind is not IdentityKind.PHONE:
        raise UnreachableError(f"SMS cannot reach a {message.recipient.kind} identity")
    try:
        return normalize(message.recipient.value, strict=True)
    except InvalidInput as exc:
        raise PermanentSendError(str(exc)) from exc


def prepare(message: OutboundMessage, settings: SmsSettings) -> tuple[str, str]:
    """(E.164 recipient, signed text within the segment limit), or `PermanentSendError`:
    nothing here gets better by retrying."""
    to = recipient_e164(message)
    try:
        text = fit(message.text, settings.max_segments, settings.signature)
    except InvalidInput as exc:
        raise PermanentSendError(str(exc)) from exc
    return to, text


def sendsms_params(
    message: OutboundMessage, to: str, text: str, settings: SmsSettings
) -> dict[str, str]:
    encoding, _ = count_segments(text)
    params = {
        "username": settings.kannel_user,
        "password": settings.kannel_password.get_secret_value(),
        "from": settings.sender,
        "to": to,
        "text": text,
        "charset": "UTF-8",
        "dlr-mask": str(settings.dlr_mask),
        "dlr-url": build_dlr_url(settings, message.job_key),
    }
    if encoding is Encoding.UCS2:
        params["coding"] = "2"
    if settings.kannel_smsc:
        params["smsc"] = settings.kannel_smsc
    return params


def classify(status: int, body: str) -> SendResult:
    """Map Kannel's answer to a result or the error the notifier understands."""
    if 200 <= status < 300:
        return SendResult(provider_id=None, detail=body)
    if status == 429 or status >= 500:
        raise TransientSendError(f"Kannel {status}: {body}")
    if "denied" in body.lower():  # white/black-listed number: try another channel
        raise UnreachableError(f"Kannel {status}: {body}")
    raise PermanentSendError(f"Kannel {status}: {body}")


class KannelSender:
    """`Sender` for Kannel. Give it a shared `httpx.AsyncClient` (connection pooling matters at
    1,000 SMS/s) and a limiter (`RedisTokenBucket` in production)."""

    channel = "sms"

    def __init__(
        self,
        settings: SmsSettings,
        client: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None
        self._limiter = limiter or NoLimit()
        install_log_redaction()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(self, message: OutboundMessage) -> SendResult:
        to, text = prepare(message, self.settings)
        params = sendsms_params(message, to, text, self.settings)
        await self._limiter.acquire()
        url = f"{self.settings.kannel_url}/cgi-bin/sendsms"
        try:
            response = await self._client.get(url, params=params)
        except httpx.TransportError as exc:
            log.warning(
                "sms MT job=%s to=%s: gateway unreachable: %s",
                message.job_key,
                mask(to),
                type(exc).__name__,
            )
            raise TransientSendError(f"Kannel unreachable: {type(exc).__name__}") from exc
        body = response.text.strip()
        log.info(
            "sms MT job=%s to=%s segments=%d -> %d %s",
            message.job_key,
            mask(to),
            count_segments(text)[1],
            response.status_code,
            body,
        )
        return classify(response.status_code, body)
