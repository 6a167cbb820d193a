"""`INTAKE_SMS__KANNEL_URL` takes smsbox's base URL or the full sendsms URL that Kannel's
documentation names; either way the sender GETs `/cgi-bin/sendsms` once, never twice."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from channels.sms import build_sender
from channels.sms.settings import SmsSettings
from tests.sms.test_sms_kannel_out import SETTINGS, Smsbox, msg, smsbox  # noqa: F401


def settings(**changes: Any) -> SmsSettings:
    return SmsSettings.model_validate({**SETTINGS.model_dump(), **changes})


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://127.0.0.1:13013", "http://127.0.0.1:13013"),
        ("http://127.0.0.1:13013/", "http://127.0.0.1:13013"),
        ("http://127.0.0.1:13013/cgi-bin/sendsms", "http://127.0.0.1:13013"),
        ("http://127.0.0.1:13013/cgi-bin/sendsms/", "http://127.0.0.1:13013"),
        (" http://kannel:13013/cgi-bin/sendsms ", "http://kannel:13013"),
        ("http://gw.local/kannel/cgi-bin/sendsms", "http://gw.local/kannel"),
    ],
)
def test_base_or_sendsms_url(given: str, base: str) -> None:
    assert settings(kannel_url=given).kannel_url == base


@pytest.mark.parametrize(
    "given",
    [
        "https://kannel:13013",  # smsbox speaks plain http; GatewayHttp too
        "kannel:13013",
        "http://:13013/cgi-bin/sendsms",
        "http://kannel:port/cgi-bin/sendsms",
        "http://kannel:13013/cgi-bin/sendsms?username=u&password=p",
    ],
)
def test_what_cannot_reach_smsbox_is_refused_at_start(given: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(kannel_url=given)
    assert [e["loc"] for e in refused.value.errors()] == [("kannel_url",)]
    assert "password=p" not in str(refused.value.errors()[0]["msg"])


@pytest.mark.parametrize("path", ["", "/cgi-bin/sendsms"])
async def test_a_send_reaches_sendsms_either_way(smsbox: Smsbox, path: str) -> None:  # noqa: F811
    sender = build_sender(settings(kannel_url=smsbox.url + path))
    result = await sender.send(msg("您的工单已受理"))
    assert result.detail == "0: Accepted for delivery"
    assert urlsplit(smsbox.targets[0]).path == "/cgi-bin/sendsms"
    assert smsbox.query()["to"] == "+8613800138000"
