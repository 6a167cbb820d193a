"""Every message type and event, table-driven from golden XML payloads, and totality."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from wechatpy import parse_message

from channels.wechat.parse import to_inbound
from channels.wechat.xml import parse_xml
from intake.domain.messages import InboundMessage, MessageKind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wechat"
EXPECTED: dict[str, Any] = {
    k: v for k, v in json.loads((FIXTURES / "expected.json").read_text()).items() if k[0] != "_"
}
ACCOUNT = "wx_city_0001"
AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ATTACHMENT_DEFAULTS = {"size": 0, "sha256": None, "storage_key": None}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_payload(name: str) -> None:
    xml = (FIXTURES / f"{name}.xml").read_text()
    data = parse_xml(xml)
    message = to_inbound(data, account=ACCOUNT, received_at=AT, raw=xml)
    got = message.to_dict()
    want = EXPECTED[name]
    assert got["channel"] == "wechat"
    assert got["sender"] == {
        "kind": "wechat",
        "value": "o_user1",
        "account": ACCOUNT,
        "display_name": None,
    }
    assert got["received_at"] == AT.isoformat()
    assert got["raw"] == xml
    fields = dict(got["fields"])
    assert fields.pop("msg_type") == data["MsgType"].lower()
    assert fields.pop("to_user") == "gh_city"
    assert fields.pop("create_time") == 1795290000
    assert fields == want["fields"]
    assert got["kind"] == want["kind"]
    assert got["external_id"] == want["external_id"]
    assert got["text"] == want["text"]
    assert got["location"] == want["location"]
    assert list(got["attachments"]) == [{**ATTACHMENT_DEFAULTS, **a} for a in want["attachments"]]
    assert InboundMessage.from_dict(got) == message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wechatpy_message_objects_give_the_same_result(name: str) -> None:
    """`to_inbound` also accepts wechatpy's parsed objects (trusted XML only)."""
    xml = (FIXTURES / f"{name}.xml").read_text()
    from_dict = to_inbound(parse_xml(xml), account=ACCOUNT, received_at=AT, raw=xml)
    from_wechatpy = to_inbound(parse_message(xml), account=ACCOUNT, received_at=AT, raw=xml)
    if name == "event_subscribe_qr":  # wechatpy rewrites the qrscene_ event; we keep it whole
        assert from_wechatpy.fields["event"] == "subscribe_scan"
        return
    assert from_wechatpy == from_dict


def test_retries_of_one_message_share_the_external_id() -> None:
    xml = (FIXTURES / "text.xml").read_text()
    first = to_inbound(parse_xml(xml), account=ACCOUNT, received_at=AT)
    retry = to_inbound(parse_xml(xml), account=ACCOUNT, received_at=datetime.now(UTC))
    assert first.idempotency_key == retry.idempotency_key == "wechat:24086087575195331"


def test_events_of_one_user_in_different_seconds_differ() -> None:
    xml = (FIXTURES / "event_click.xml").read_text()
    later = xml.replace("1795290000", "1795290001")
    a = to_inbound(parse_xml(xml), account=ACCOUNT, received_at=AT)
    b = to_inbound(parse_xml(later), account=ACCOUNT, received_at=AT)
    assert a.external_id != b.external_id


def test_the_account_is_part_of_the_identity() -> None:
    data = parse_xml((FIXTURES / "text.xml").read_text())
    city = to_inbound(data, account="wx_city", received_at=AT)
    district = to_inbound(data, account="wx_district", received_at=AT)
    assert city.sender != district.sender
    assert city.sender.value == district.sender.value == "o_user1"


def test_unknown_message_without_msgid_gets_a_stable_content_id() -> None:
    xml = (
        "<xml><FromUserName>o_u</FromUserName><CreateTime>5</CreateTime><MsgType>x</MsgType></xml>"
    )
    other = xml.replace("<MsgType>x", "<Extra>1</Extra><MsgType>x")
    a1 = to_inbound(parse_xml(xml), account=ACCOUNT, received_at=AT, raw=xml)
    a2 = to_inbound(parse_xml(xml), account=ACCOUNT, received_at=AT, raw=xml)
    b = to_inbound(parse_xml(other), account=ACCOUNT, received_at=AT, raw=other)
    assert a1.kind is MessageKind.UNKNOWN
    assert a1.external_id == a2.external_id != b.external_id
    assert a1.external_id.startswith("x:o_u:5:")


WEIRD: list[Any] = [
    {},
    {"MsgType": "text"},
    {"MsgType": "location", "Location_X": "north", "Location_Y": "nan", "Label": ""},
    {"MsgType": "location", "Location_X": "inf", "Location_Y": "1e999"},
    {"MsgType": "event", "Event": {"nested": "x"}, "CreateTime": "²"},
    {"MsgType": ["image", "text"], "MediaId": {"a": 1}},
    {"MsgType": "voice", "Format": None, "Recognition": None},
    {"MsgType": "event", "Event": "LOCATION", "Latitude": "", "Longitude": "x"},
    {"MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_"},
    {"MsgType": 7, "FromUserName": 8, "CreateTime": -1},
    None,
    "not a mapping",
    42,
]


@pytest.mark.parametrize("payload", WEIRD)
def test_to_inbound_is_total(payload: Any) -> None:
    message = to_inbound(payload, account=ACCOUNT, received_at=AT)
    assert message.channel == "wechat"
    assert message.external_id
    assert InboundMessage.from_dict(message.to_dict()).external_id == message.external_id


def test_bad_coordinates_keep_the_label() -> None:
    data = {"MsgType": "location", "Location_X": "north", "Location_Y": "1", "Label": "幸福路"}
    message = to_inbound(data, account=ACCOUNT, received_at=AT)
    assert message.location is not None
    assert (message.location.latitude, message.location.longitude) == (None, 1.0)
    assert message.location.label == "幸福路"
