"""Aliyun SendSms against a fake endpoint that checks the signature the way Aliyun does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import parse_qsl, quote

import httpx
import pytest

from channels.base import OutboundMessage
from channels.sms import build_sender
from channels.sms.cloud import AliyunSender, sign, string_to_sign
from channels.sms.settings import SmsSettings, TemplateSpec
from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.domain.messages import IdentityKind, SenderIdentity

KEY_ID, KEY_SECRET = "LTAI-test-id", "test-secret-value"


def doc_params() -> dict[str, str]:
    """The example of help.aliyun.com/document_detail/101343 (SendSms signature)."""
    return {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }


def test_documented_signature_example() -> None:
    sts = string_to_sign("GET", doc_params())
    assert sts.startswith("GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML")
    assert "%26SignName%3D%25E9%2598%25BF%25E9%2587%258C" in sts
    assert "%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D" in sts
    assert "%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25" in sts
    assert sign("GET", doc_params(), "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


class FakeAliyun:
    """Verifies like the provider (independent re-implementation) and answers per number."""

    answers: ClassVar[dict[str, tuple[int, dict[str, str]]]] = {
        "13800138000": (200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0"}),
        "13800138001": (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"}),
        "13800138002": (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}),
        "13800138003": (500, {"Code": "isp.SYSTEM_ERROR", "Message": "系统错误"}),
    }

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.nonces: set[str] = set()

    @staticmethod
    def expected_signature(method: str, params: dict[str, str], secret: str) -> str:
        enc = lambda s: quote(s, safe="-_.~")  # noqa: E731
        canon = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params))
        sts = method + "&" + enc("/") + "&" + enc(canon)
        mac = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
        return base64.b64encode(mac).decode()

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/"
        params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.requests.append(params)
        given = params.pop("Signature", "")
        if params.get("AccessKeyId") != KEY_ID:
            return httpx.Response(404, json={"Code": "InvalidAccessKeyId.NotFound"})
        if given != self.expected_signature("POST", params, KEY_SECRET):
            return httpx.Response(400, json={"Code": "SignatureDoesNotMatch"})
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if (
            abs(datetime.now(UTC) - stamp) > timedelta(minutes=15)
            or params["SignatureNonce"] in self.nonces
        ):
            return httpx.Response(400, json={"Code": "SignatureNonceUsed"})
        self.nonces.add(params["SignatureNonce"])
        status, body = self.answers[params["PhoneNumbers"]]
        return httpx.Response(status, json={"RequestId": "F655A8D5-B967", **body})


def settings(secret: str = KEY_SECRET) -> SmsSettings:
    return SmsSettings(
        provider="aliyun",
        api_base="https://dysmsapi.test",
        access_key_id=KEY_ID,
        access_key_secret=secret,
        signature="【12345热线】",
        templates={
            "ack": TemplateSpec(code="SMS_100001", params={"number": "ticket_number"}),
            "rating": TemplateSpec(code="SMS_100002"),
        },
    )


def message(phone: str, template: str | None = "ack", **params: object) -> OutboundMessage:
    return OutboundMessage(
        recipient=SenderIdentity(IdentityKind.PHONE, phone),
        text="您的工单已受理",
        job_key="job:ack:2026112100042",
        ticket_number="2026112100042",
        template=template,
        params=dict(params),
    )


@pytest.fixture
def fake() -> FakeAliyun:
    return FakeAliyun()


def sender(fake: FakeAliyun, secret: str = KEY_SECRET) -> AliyunSender:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    built = build_sender(settings(secret), client=client)
    assert isinstance(built, AliyunSender)
    return built


async def test_success(fake: FakeAliyun) -> None:
    result = await sender(fake).send(message("+8613800138000"))
    assert result.provider_id == "900619746936498440^0"
    sent = fake.requests[0]
    assert sent["PhoneNumbers"] == "13800138000" and sent["SignName"] == "12345热线"
    assert sent["TemplateCode"] == "SMS_100001" and sent["OutId"] == "job:ack:2026112100042"
    assert json.loads(sent["TemplateParam"]) == {"number": "2026112100042"}


async def test_template_params_pass_through(fake: FakeAliyun) -> None:
    await sender(fake).send(message("13800138000", "rating", name="张三", days=3))
    assert json.loads(fake.requests[0]["TemplateParam"]) == {"name": "张三", "days": "3"}


async def test_throttling_is_transient(fake: FakeAliyun) -> None:
    with pytest.raises(TransientSendError) as info:
        await sender(fake).send(message("+8613800138001"))
    assert info.value.retry_after == 60.0


async def test_system_error_is_transient(fake: FakeAliyun) -> None:
    with pytest.raises(TransientSendError):
        await sender(fake).send(message("+8613800138003"))


async def test_invalid_number_is_permanent(fake: FakeAliyun) -> None:
    with pytest.raises(PermanentSendError) as info:
        await sender(fake).send(message("+8613800138002"))
    assert isinstance(info.value, UnreachableError)  # permanent, and fall back


async def test_wrong_secret_is_rejected_by_the_fake(fake: FakeAliyun) -> None:
    with pytest.raises(PermanentSendError, match="SignatureDoesNotMatch"):
        await sender(fake, secret="not-the-secret").send(message("+8613800138000"))


async def test_unknown_template_is_permanent_and_not_sent(fake: FakeAliyun) -> None:
    with pytest.raises(PermanentSendError):
        await sender(fake).send(message("+8613800138000", "nope"))
    with pytest.raises(PermanentSendError):
        await sender(fake).send(message("+8613800138000", None))
    with pytest.raises(PermanentSendError):  # the ack template needs the ticket number
        await sender(fake).send(
            OutboundMessage(
                SenderIdentity(IdentityKind.PHONE, "13800138000"), "x", "j", template="ack"
            )
        )
    assert fake.requests == []


async def test_connection_error_is_transient() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(boom))
    with pytest.raises(TransientSendError):
        await AliyunSender(settings(), client).send(message("+8613800138000"))
