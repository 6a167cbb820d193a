"""Delivery reports: Kannel's dlr-url callbacks -> `DeliveryReport`, and our side of the dlr-url.

The dlr-url we pass on each send is
`{public_url}/channels/sms/dlr?secret=S&ref=OUR_DELIVERY_ID&status=%d&answer=%A&to=%p&ts=%T`.
Correlation is by `ref` (our own delivery id): Kannel's `%I` differs on every callback and `%F`
is empty for the SMSC ACK. Callbacks arrive concurrently and unordered,
so `final` tells the core which states must never be overwritten by a late intermediate one.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from intake.domain.errors import InvalidInput
from intake.domain.phones import mask_phone as mask
from intake.domain.text_hygiene import clean_text
from intake.interfaces import DeliveryState

from .kannel_in import authenticate, parse_query, parse_time, small_int, text_param
from .settings import SmsSettings

log = logging.getLogger(__name__)

_B64_PREFIX = "b64~"
# Legal unencoded in a query value and meaningless to Kannel's %-escape translation.
_REF_SAFE = re.compile(r"^[A-Za-z0-9._~:@,-]+$")


# Kannel's DLR values: 4 and 32 ("intermediate") both mean still queued at the SMSC.
_STATES = {
    1: (DeliveryState.DELIVERED, True),
    2: (DeliveryState.FAILED, True),
    4: (DeliveryState.BUFFERED, False),
    8: (DeliveryState.SUBMITTED, False),
    16: (DeliveryState.REJECTED, True),
    32: (DeliveryState.BUFFERED, False),
}


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    ref: str  # our delivery id (OutboundMessage.job_key)
    state: DeliveryState
    final: bool
    status: int  # Kannel's raw DLR value
    answer: str  # the SMSC's own words (e.g. "id:… stat:UNDELIV err:001"), for staff
    to: str
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.state is DeliveryState.DELIVERED

    @property
    def failed(self) -> bool:
        return self.final and not self.succeeded


def encode_ref(delivery_id: str) -> str:
    """Make our delivery id safe inside the dlr-url.

    Kannel treats every `%x` in the dlr-url as a possible escape code, so the id must not need
    percent-encoding: ids that are already URL-safe go as they are (readable in Kannel's logs),
    anything else as unpadded base64url behind a prefix. `decode_ref` reverses both.
    """
    if _REF_SAFE.match(delivery_id) and not delivery_id.startswith(_B64_PREFIX):
        return delivery_id
    packed = base64.urlsafe_b64encode(delivery_id.encode("utf-8")).rstrip(b"=")
    return _B64_PREFIX + packed.decode("ascii")


def decode_ref(ref: str) -> str:
    if not ref.startswith(_B64_PREFIX):
        return ref
    body = ref[len(_B64_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("malformed DLR ref", field="ref") from exc


def report_fields(report: DeliveryReport) -> dict[str, str]:
    """A report as a stream entry (the recipient masked: it is only shown to staff)."""
    return {
        "channel": "sms",
        "ref": report.ref,
        "state": report.state.value,
        "final": "1" if report.final else "0",
        "status": str(report.status),
        "answer": report.answer,
        "to": mask(report.to) if report.to else "",
        "at": report.at.isoformat(),
    }


def build_dlr_url(settings: SmsSettings, delivery_id: str) -> str:
    """The dlr-url for one send, in the fixed shape the README documents."""
    secret = quote(settings.inbound_secret.get_secret_value(), safe="")
    return (
        f"{settings.public_url}/channels/sms/dlr?secret={secret}&ref={encode_ref(delivery_id)}"
        "&status=%d&answer=%A&to=%p&ts=%T"
    )


def parse_dlr(raw_query: bytes, *, now: datetime | None = None) -> DeliveryReport:
    """Parse an already authenticated dlr-url query. Raises `InvalidInput` only."""
    params = parse_query(raw_query)
    ref = clean_text(decode_ref(text_param(params, "ref")))
    if not ref:
        raise InvalidInput("DLR without ref", field="ref")
    status_text = text_param(params, "status")
    status = small_int(status_text, digits=3)
    if status is None or status not in _STATES:
        raise InvalidInput(f"unknown DLR status {status_text[:20]!r}", field="status")
    state, final = _STATES[status]
    return DeliveryReport(
        ref=ref,
        state=state,
        final=final,
        status=status,
        answer=clean_text(params.get("answer", b"").decode("utf-8", "replace")),
        to=text_param(params, "to"),
        at=parse_time(text_param(params, "ts"), now or datetime.now(UTC)),
    )


def parse_dlr_request(
    raw_query: bytes, client_ip: str, settings: SmsSettings, *, now: datetime | None = None
) -> DeliveryReport:
    """The whole `GET /channels/sms/dlr` edge: allow-list, secret, parse.

    Raises `Forbidden` (answer 403) or `InvalidInput` (answer 400).
    """
    authenticate(raw_query, client_ip, settings)
    report = parse_dlr(raw_query, now=now)
    log.debug(  # the route logs it once it is queued
        "sms DLR ref=%s status=%d state=%s final=%s to=%s",
        report.ref,
        report.status,
        report.state,
        report.final,
        mask(report.to),
    )
    return report
