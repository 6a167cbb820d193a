"""Signature checks against WeChat's official test vectors, forgeries and stale requests."""

from __future__ import annotations

import pytest

from channels.wechat.verify import SignatureVerifier, wechat_signature
from intake.domain.errors import Forbidden

GET_VECTOR = {
    "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696",
    "timestamp": "1714036504",
    "nonce": "1514711492",
    "echostr": "7286253484365762386",
}
POST_VECTOR = {
    "signature": "899cf89e464efb63f54ddac96b0a0a235f53aa78",
    "timestamp": "1714037059",
    "nonce": "486452656",
}


def verifier_at(now: float, max_age: float = 300) -> SignatureVerifier:
    return SignatureVerifier("AAAAA", max_age=max_age, clock=lambda: now)


def test_signature_function_matches_official_vectors() -> None:
    assert wechat_signature("AAAAA", "1714036504", "1514711492") == GET_VECTOR["signature"]
    assert wechat_signature("AAAAA", "1714037059", "486452656") == POST_VECTOR["signature"]


def test_url_verification_returns_echostr_verbatim() -> None:
    assert verifier_at(1714036504 + 5).verify_url(GET_VECTOR) == "7286253484365762386"


def test_post_vector_passes() -> None:
    verifier_at(1714037059 - 10).check(POST_VECTOR)


def test_uppercase_signature_is_accepted() -> None:
    params = {**POST_VECTOR, "signature": POST_VECTOR["signature"].upper()}
    verifier_at(1714037059).check(params)


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "0" * 40},
        {"signature": "f464b24fc39322e44b38aa78f5edd27bd1441697"},
        {"nonce": "1514711493"},
        {"timestamp": "1714036505"},
        {"signature": "签名"},
        {"signature": ""},
        {"nonce": ""},
    ],
)
def test_forged_or_altered_requests_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(Forbidden):
        verifier_at(1714036504).verify_url({**GET_VECTOR, **change})


def test_wrong_token_is_refused() -> None:
    other = SignatureVerifier("BBBBB", clock=lambda: 1714036504)
    with pytest.raises(Forbidden, match="bad signature"):
        other.check(GET_VECTOR)


@pytest.mark.parametrize("delta", [301, -301, 86400])
def test_stale_or_future_timestamp_is_refused(delta: int) -> None:
    with pytest.raises(Forbidden, match="stale timestamp"):
        verifier_at(1714036504 + delta).check(GET_VECTOR)


def test_max_age_is_configurable() -> None:
    verifier_at(1714036504 + 3000, max_age=3600).check(GET_VECTOR)
    with pytest.raises(Forbidden):
        verifier_at(1714036504 + 3000, max_age=60).check(GET_VECTOR)


def test_malformed_timestamp_is_refused_even_when_signed() -> None:
    params = {
        "timestamp": "soon",
        "nonce": "1",
        "signature": wechat_signature("AAAAA", "soon", "1"),
    }
    with pytest.raises(Forbidden, match="malformed timestamp"):
        verifier_at(1714036504).check(params)


def test_missing_echostr_is_refused() -> None:
    params = {k: v for k, v in GET_VECTOR.items() if k != "echostr"}
    with pytest.raises(Forbidden, match="echostr"):
        verifier_at(1714036504).verify_url(params)


def test_refusal_is_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(Forbidden):
        verifier_at(1714036504).check({**GET_VECTOR, "signature": "0" * 40})
    assert "bad signature" in caplog.text
    assert "AAAAA" not in caplog.text
