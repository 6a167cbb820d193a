"""Against the real Kannel 1.4.5: MO via fakesmsc -> get-url, MT via sendsms -> fakesmsc, DLRs."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote_from_bytes

import httpx
import pytest
from redis.asyncio import Redis

from channels.base import OutboundMessage
from channels.sms.dlr import DeliveryState, parse_dlr_request
from channels.sms.kannel_in import parse_mo_request
from channels.sms.kannel_out import KannelSender
from channels.sms.segments import count_segments
from channels.sms.settings import SmsSettings
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.ratelimit.buckets import RedisTokenBucket
from intake.redis.keys import Keys

from .kannel_peer import DLR_PATH, MT, Hit, KannelRig, parse_mt

pytestmark = pytest.mark.integration

CN = "你好，路灯坏了  退订"  # full-width comma (0xFF0C) and a double space: %a would break both


def settings_for(rig: KannelRig, **extra: object) -> SmsSettings:
    return SmsSettings(
        kannel_url=rig.peer.kannel_url,
        kannel_user=rig.user,
        kannel_password=rig.password,
        inbound_secret=rig.secret,
        public_url=rig.recorder.base_url,
        sender="12345",
        signature="12345热线",
        max_segments=5,
        **extra,
    )


def ucs2_line(sender: str, text: str) -> str:
    return f"{sender} 12345 ucs2 {quote_from_bytes(text.encode('utf-16-be'), safe='')}"


def to(rig: KannelRig, receiver: str) -> list[MT]:
    return [m for m in map(parse_mt, rig.peer.mt_lines) if m.receiver == receiver]


@pytest.mark.parametrize(
    ("line", "sender", "text"),
    [
        (ucs2_line("+8613800138001", CN), "+8613800138001", CN),
        (ucs2_line("008613800138002", "好😀\n第二行"), "+8613800138002", "好😀\n第二行"),
        ("13800138003 12345 text Streetlight  broken", "+8613800138003", "Streetlight  broken"),
        ("+8613800138004 12345 data A%0A%0AB++C", "+8613800138004", "A\n\nB  C"),
    ],
)
@pytest.mark.parametrize("recode", [True, False], ids=["mo-recode", "no-recode"])
def test_mo_through_kannel(
    recode: bool, line: str, sender: str, text: str, request: pytest.FixtureRequest
) -> None:
    rig: KannelRig = request.getfixturevalue("kannel_peer" if recode else "kannel_peer_norecode")
    hit = rig.mo(line)
    message = parse_mo_request(hit.raw_query, "127.0.0.1", settings_for(rig))
    assert message.text == text
    assert message.sender.value == sender
    assert message.fields["to"] == "12345" and message.fields["smsc"] == "FAKE"
    assert len(message.external_id) == 36  # Kannel's %I UUID


def test_mo_ids_are_unique(kannel_peer: KannelRig) -> None:
    settings = settings_for(kannel_peer)
    ids = {
        parse_mo_request(
            kannel_peer.mo(f"13800138010 12345 text n{i}").raw_query, "127.0.0.1", settings
        ).external_id
        for i in range(3)
    }
    assert len(ids) == 3


async def test_chinese_mt_arrives_as_ucs2_with_dlrs(kannel_peer: KannelRig) -> None:
    rig = kannel_peer
    sender = KannelSender(settings_for(rig))
    message = OutboundMessage(
        recipient=SenderIdentity(IdentityKind.PHONE, "13900139001"),
        text="您的工单2026112100042已受理。回复TD退订",
        job_key="job:2026112100042:ack",
    )
    result = await sender.send(message)
    await sender.aclose()
    assert result.detail == "0: Accepted for delivery"
    line = await asyncio.to_thread(rig.peer.wait_mt, lambda s: "+8613900139001" in s, 10)
    mt = parse_mt(line)
    assert (mt.sender, mt.kind) == ("12345", "ucs-2")
    assert mt.text == "【12345热线】您的工单2026112100042已受理。回复TD退订"

    def final_dlr(hit: Hit) -> bool:
        return (
            hit.path == DLR_PATH
            and b"ref=job:2026112100042:ack" in hit.raw_query
            and (b"status=1&" in hit.raw_query)
        )

    await asyncio.to_thread(rig.recorder.wait_for, final_dlr, 10)
    reports = [
        parse_dlr_request(h.raw_query, "127.0.0.1", settings_for(rig))
        for h in rig.recorder.matching(DLR_PATH)
        if b"ref=job:2026112100042:ack" in h.raw_query
    ]
    assert {r.ref for r in reports} == {"job:2026112100042:ack"}
    states = {r.state: r.final for r in reports}
    assert states[DeliveryState.DELIVERED] is True
    assert all(r.to == "+8613900139001" for r in reports)


@pytest.mark.parametrize(
    ("receiver", "text"),
    [
        ("+8613900139101", "A" * 160),
        ("+8613900139102", "A" * 161),
        ("+8613900139103", "A" * 152 + "€" + "A" * 152),  # ESC pair pushed to part 3
        ("+8613900139104", "路" * 70),
        ("+8613900139105", "路" * 71),
        ("+8613900139106", "路" * 135),
    ],
)
async def test_segment_count_matches_kannel(
    kannel_peer: KannelRig, receiver: str, text: str
) -> None:
    rig = kannel_peer
    params = {
        "username": rig.user,
        "password": rig.password,
        "from": "12345",
        "to": receiver,
        "text": text,
        "charset": "UTF-8",
    }
    encoding, expected = count_segments(text)
    if encoding == "ucs2":
        params["coding"] = "2"
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{rig.peer.kannel_url}/cgi-bin/sendsms", params=params)
    assert r.status_code == 202
    await asyncio.to_thread(
        rig.peer.wait_mt,
        lambda s: f"{receiver} " in s and (expected == 1 or f"%{expected:02X} data" in s),
        10,
    )
    parts = to(rig, receiver)
    assert len(parts) == expected
    codec = "utf-16-be" if encoding == "ucs2" else "utf-8"
    assert "".join(p.data.decode(codec) for p in parts) == text


async def test_rate_limited_sends_through_kannel(
    kannel_peer: KannelRig, sms_redis: tuple[Redis, str]
) -> None:
    redis, prefix = sms_redis
    limiter = RedisTokenBucket(redis, Keys(prefix).bucket("gateway:kannel"), rate=100, burst=5)
    sender = KannelSender(settings_for(kannel_peer), limiter=limiter)
    start = time.monotonic()
    results = await asyncio.gather(
        *(
            sender.send(
                OutboundMessage(
                    SenderIdentity(IdentityKind.PHONE, "13900139200"), f"batch {i}", f"b:{i}"
                )
            )
            for i in range(45)
        )
    )
    elapsed = time.monotonic() - start
    await sender.aclose()
    assert all(r.detail == "0: Accepted for delivery" for r in results)
    assert elapsed >= (45 - 5) / 100 * 0.9  # 0.4 s: the gateway's rate held
