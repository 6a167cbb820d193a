"""The guided requests' data and pure parts: the catalogue, address patterns, phones typed in a
chat, the screen, the draft and the message it is filed as."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.domain.messages import Attachment, IdentityKind
from intake.domain.phones import find_phone, looks_like_a_number, without_phone
from intake.guided import GuidedCatalogue, Screen, passes_through
from intake.guided.draft import Draft, Part, filed_message, has_content
from intake.triage import Triage

RULES = GuidedCatalogue.load()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("门口的路灯坏了", "public-facility"),
        ("ＸＸ路的井盖丢了", "public-facility"),
        ("楼下烧烤店油烟扰民", None),
        ("请问社保卡怎么补办", None),
    ],
)
def test_rules_pick_requests_that_need_more(text: str, rule: str | None) -> None:
    found = RULES.rule_for(text)
    assert (found.id if found else None) == rule
    if found:
        assert found.needs == ("place", "phone")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("幸福路12号门口的路灯坏了", True),
        ("幸福路上的路灯不亮", True),
        ("长江路与黄河路交叉口", True),
        ("阳光花园小区3栋前面", True),
        ("路灯坏了", False),
        ("这条路上的路灯坏了", False),
        ("我家小区门口的井盖丢了", False),
        ("学校门口的路面塌陷", False),
        ("马路上有个大坑", False),
    ],
)
def test_address_patterns(text: str, named: bool) -> None:
    assert RULES.names_address(text) is named


def test_gazetteer_names_places_the_patterns_miss() -> None:
    screen = Screen(RULES, Triage.load())
    assert not RULES.names_address("香樟苑门口的垃圾桶坏了")
    assert screen.check("香樟苑门口的垃圾桶坏了").names_place
    assert screen.check("路灯杆倒了压住人了，有人被困").file_now
    assert not screen.check("路灯坏了").file_now
    assert not Screen(RULES, None).check("香樟苑门口").names_place


@pytest.mark.parametrize("text", ["提交", "提交。", " 就这样！", "不用了"])
def test_finish_words(text: str) -> None:
    assert RULES.is_finish(text) and not RULES.is_cancel(text)


def test_cancel_and_ordinary_words() -> None:
    assert RULES.is_cancel("取消") and RULES.is_cancel("算了。")
    assert not RULES.is_finish("提交了一个诉求") and not RULES.is_cancel("取消订单被拒")


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("我的电话13812345678谢谢", "+8613812345678"),
        ("电话：138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("０２１－６２３４５６７８", "+862162345678"),
        ("座机010-12345678，手机15900001111", "+8615900001111"),  # the mobile first
        ("2026112100001", None),  # a ticket number is not a phone
        ("幸福路12号", None),
        ("12345678901", None),
    ],
)
def test_phones_in_text(text: str, phone: str | None) -> None:
    assert find_phone(text) == phone


def test_phone_attempts_and_what_is_left() -> None:
    assert looks_like_a_number("12345678901") and not looks_like_a_number("12号楼")
    assert without_phone("幸福路12号，电话13812345678") == "幸福路12号，电话"


def test_status_queries_and_references_pass_through() -> None:
    assert passes_through("查询") and passes_through("进度。")
    assert passes_through("2026112100001") and passes_through("路灯 2026112100001 还没修")
    assert passes_through("查询码7KQ2MZ9P的那个")
    assert not passes_through("路灯坏了，电话021-62345678")


def test_a_broken_rules_file_is_refused_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "dialog.yaml"
    bad.write_text("rules: [{id: x, keywords: [a], needs: [where]}]\ntexts: {}\n")
    with pytest.raises(ConfigurationError, match="dialog rules"):
        GuidedCatalogue.load(bad)
    with pytest.raises(ConfigurationError):
        GuidedCatalogue.load(tmp_path / "missing.yaml")


def _draft(**values: object) -> Draft:
    at = datetime(2026, 11, 21, 9, 30, tzinfo=UTC).isoformat()
    photo = asdict(Attachment("p.jpg", "image/jpeg", media_id="m1"))
    base: dict[str, object] = {
        "id": "100",
        "account": "wx_city_0001",
        "openid": "o_user1",
        "rule": "public-facility",
        "needs": ["place", "phone"],
        "asking": "place",
        "deadline": 0.0,
        "started_at": at,
        "parts": [
            Part("100", "text", "路灯坏了", at, raw="<xml>1</xml>"),
            Part("101", "image", "", at, [photo]),
            Part("102", "location", "幸福路12号", at),
        ],
    }
    base.update(values)
    return Draft(**base)  # type: ignore[arg-type]


def test_filed_message_carries_every_part() -> None:
    draft = _draft(
        location={"latitude": 23.1, "longitude": 113.3, "label": "幸福路12号"},
        place="东门对面",
        phone="+8613812345678",
    )
    message = filed_message(draft, reason="timeout")
    assert message.external_id == "dialog:100" and message.channel == "wechat"
    assert message.sender.kind is IdentityKind.WECHAT and message.sender.account == "wx_city_0001"
    assert message.text == "路灯坏了\n幸福路12号"
    assert [a.media_id for a in message.attachments] == ["m1"]
    assert message.location is not None and message.location.latitude == 23.1
    assert message.location.label == "幸福路12号（东门对面）"
    assert message.fields["contact_phone"] == "+8613812345678"
    assert message.fields["dialog"] == {
        "rule": "public-facility",
        "reason": "timeout",
        "parts": ["100", "101", "102"],
    }
    assert message.received_at == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert message.raw == {"dialog": ["<xml>1</xml>", None, None]}


def test_draft_round_trips_and_knows_what_is_missing() -> None:
    draft = _draft(parts=[], asks={"place": 2})
    assert not has_content(draft)
    assert draft.missing(max_asks=2) == ["phone"]  # place asked enough
    assert Draft.from_json(draft.to_json()) == draft
    typed = _draft(place="学校东门", asks={})
    assert typed.missing(max_asks=2) == ["phone"] and has_content(typed)
