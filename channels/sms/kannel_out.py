"""Outbound SMS through Kannel's smsbox `sendsms` (the notifier's `Sender` for channel "sms").

What matters, learned on the real gateway:
- Chinese text without `coding=2` reaches the SMSC as `??`: every non-GSM text goes out as
  UCS-2 with `charset=UTF-8` (we send UTF-8, Kannel converts).
- The dlr-url carries our own delivery id (`OutboundMessage.job_key`), because Kannel's ids
  differ per callback.
- Kannel answers `202 "0: Accepted for delivery"` or `202 "3: Queued for later delivery"`;
  403 is bad credentials or a denied number, 400 a bad request, 503 a temporary failure.
- One GET per SMS at 1,000 SMS/s: the request goes through `GatewayHttp` (http1.py), not httpx.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote_plus, urlencode

from channels.base import OutboundMessage, SendResult
from intake.domain.errors import (
    InvalidInput,
    PermanentSendError,
    TransientSendError,
    UnreachableError,
)
from intake.domain.messages import IdentityKind
from intake.domain.phones import mask_phone as mask
from intake.domain.phones import normalize_phone as normalize
from intake.ratelimit.buckets import NoLimit, RateLimiter

from .dlr import build_dlr_url
from .http1 import GatewayHttp, GatewayHttpError
from .segments import Encoding, count_segments, fit
from .settings import SENDSMS_PATH, SmsSettings

log = logging.getLogger(__name__)

# `name=value` or, inside the percent-encoded dlr-url, `name%3Dvalue` (ends at `%26`).
_SECRET_PARAMS = re.compile(r"(password|pass|secret)(=|%3D)(?:(?!%26)[^&\s\"])*", re.IGNORECASE)


_PERSONAL_PARAMS = re.compile(r"([?&](?:to|text)=)([^&\s\"]*)")


def _hide_personal(match: re.Match[str]) -> str:
    name, value = match.group(1), unquote_plus(match.group(2))
    return name + (mask(value) if name.endswith("to=") else f"<{len(value)} chars>")


class RedactSecrets(logging.Filter):
    """httpx logs every request URL at INFO; gateway URLs can carry a password, the
    citizen's number and the message text (the cloud senders use httpx)."""

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
    """`Sender` for Kannel: keep-alive connections to smsbox (`GatewayHttp`, shared by all
    sends of the process) and a limiter (`RedisTokenBucket` in production: the gateway's
    contracted rate, shared by every worker)."""

    channel = "sms"

    def __init__(
        self,
        settings: SmsSettings,
        http: GatewayHttp | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self._http = http or GatewayHttp(
            settings.kannel_url,
            max_connections=settings.max_connections,
            timeout=settings.timeout_seconds,
        )
        self._limiter = limiter or NoLimit()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, message: OutboundMessage) -> SendResult:
        to, text = prepare(message, self.settings)
        query = urlencode(sendsms_params(message, to, text, self.settings), quote_via=quote)
        await self._limiter.acquire()
        try:
            reply = await self._http.get(SENDSMS_PATH, query)
        except GatewayHttpError as exc:
            log.warning(
                "sms MT job=%s to=%s: gateway unreachable: %s", message.job_key, mask(to), exc
            )
            raise TransientSendError(f"Kannel unreachable: {exc}") from exc
        body = reply.body.strip()
        log.info(
            "sms MT job=%s to=%s segments=%d -> %d %s",
            message.job_key,
            mask(to),
            count_segments(text)[1],
            reply.status,
            body,
        )
        return classify(reply.status, body)
