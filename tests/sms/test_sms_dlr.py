from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.sms.dlr import (
    DeliveryState,
    build_dlr_url,
    decode_ref,
    encode_ref,
    parse_dlr,
    parse_dlr_request,
)
from channels.sms.settings import SmsSettings
from intake.domain.errors import Forbidden, InvalidInput

SECRET = "dlr-secret_1"
SETTINGS = SmsSettings(inbound_secret=SECRET, public_url="https://hotline.example/")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def dlr_query(
    status: str, *, ref: str = "job-42", answer: str = "", ts: str = "1795300963"
) -> bytes:
    return (
        f"secret={SECRET}&ref={ref}&status={status}&answer={answer}&to=%2B8613800138000&ts={ts}"
    ).encode()


@pytest.mark.parametrize(
    ("status", "state", "final"),
    [
        ("1", DeliveryState.DELIVERED, True),
        ("2", DeliveryState.FAILED, True),
        ("4", DeliveryState.BUFFERED, False),
        ("8", DeliveryState.SUBMITTED, False),
        ("16", DeliveryState.REJECTED, True),
        ("32", DeliveryState.BUFFERED, False),
    ],
)
def test_status_mapping(status: str, state: DeliveryState, final: bool) -> None:
    report = parse_dlr(dlr_query(status), now=NOW)
    assert (report.state, report.final, report.status) == (state, final, int(status))
    assert report.failed is (final and state is not DeliveryState.DELIVERED)


def test_fields() -> None:
    report = parse_dlr(dlr_query("2", answer="id%3A1+stat%3AUNDELIV+err%3A001"), now=NOW)
    assert report.ref == "job-42"
    assert report.answer == "id:1 stat:UNDELIV err:001"
    assert report.to == "+8613800138000"
    assert report.at == datetime.fromtimestamp(1795300963, UTC)
    assert parse_dlr(dlr_query("1", ts=""), now=NOW).at == NOW


@pytest.mark.parametrize("status", ["", "0", "3", "64", "abc", "-1"])
def test_unknown_status(status: str) -> None:
    with pytest.raises(InvalidInput):
        parse_dlr(dlr_query(status), now=NOW)


def test_missing_ref() -> None:
    with pytest.raises(InvalidInput):
        parse_dlr(dlr_query("1", ref=""), now=NOW)


@pytest.mark.parametrize(
    "job_key",
    ["job-42", "notify:2026112100042:ack:sms", "工单/42?&=%d", "b64~trick", "a b+c"],
)
def test_ref_round_trip_and_url_safe(job_key: str) -> None:
    ref = encode_ref(job_key)
    assert "%" not in ref and "&" not in ref and "=" not in ref and " " not in ref
    assert decode_ref(ref) == job_key
    assert parse_dlr(dlr_query("1", ref=ref), now=NOW).ref == job_key


def test_build_dlr_url_matches_interfaces_md() -> None:
    url = build_dlr_url(SETTINGS, "job-42")
    assert url == (
        "https://hotline.example/channels/sms/dlr?secret=dlr-secret_1&ref=job-42"
        "&status=%d&answer=%A&to=%p&ts=%T"
    )


def test_request_secret() -> None:
    assert parse_dlr_request(dlr_query("1"), "127.0.0.1", SETTINGS).succeeded
    with pytest.raises(Forbidden):
        parse_dlr_request(dlr_query("1").replace(SECRET.encode(), b"nope"), "127.0.0.1", SETTINGS)
