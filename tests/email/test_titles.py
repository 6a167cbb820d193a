"""Ticket titles: a mail's subject without prefixes and tags; never a greeting on any channel."""

from __future__ import annotations

import pytest

from channels.email.titles import clean_subject, title_of_subject
from intake.domain.titles import NO_TEXT, is_greeting, ticket_title, title_from


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("Re: 回复：转发: [2026112100042] 路灯不亮", "路灯不亮"),
        ("RE: FW: 【2026112100042】 噪音扰民", "噪音扰民"),
        ("答复: 已受理 [#2026112100042]", "已受理"),
        ("Fwd:  Re:  noise at night", "noise at night"),
        ("AW: WG: Baustelle", "Baustelle"),
        ("您好", None),
        ("尊敬的领导：您好！", None),
        ("Hello", None),
        ("无主题", None),
        ("", None),
        ("回复：[2026112100042]", None),
    ],
)
def test_subject_title(subject: str, title: str | None) -> None:
    assert title_of_subject(subject) == title


def test_clean_subject_keeps_numbers_that_are_not_tags() -> None:
    assert clean_subject("回复: 12345热线 第3次投诉") == "12345热线 第3次投诉"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("您好，幸福路的路灯坏了三天了，晚上很不安全。", "幸福路的路灯坏了三天了，晚上很不安全"),
        (
            "尊敬的领导：\n您好！\n我是幸福小区居民，楼下烧烤油烟扰民。",
            "我是幸福小区居民，楼下烧烤油烟扰民",
        ),
        ("王主任您好，我想咨询社保转移。", "我想咨询社保转移"),
        ("12345热线：\n和平路井盖丢了", "和平路井盖丢了"),
        ("Dear Sir, the road is broken.", "the road is broken."),
        ("路灯坏了", "路灯坏了"),
        ("", NO_TEXT),
    ],
)
def test_first_meaningful_sentence(text: str, title: str) -> None:
    assert title_from(text) == title


def test_a_given_title_wins_unless_it_is_a_greeting() -> None:
    assert ticket_title("幸福路路灯", "您好，路灯坏了") == "幸福路路灯"
    assert ticket_title("您好", "您好，路灯坏了。") == "路灯坏了"
    assert ticket_title(None, "你好！\n人民路菜市场门口污水横流。") == "人民路菜市场门口污水横流"
    assert is_greeting("尊敬的各位领导：") and not is_greeting("路灯坏了")


def test_phone_and_id_numbers_are_masked_in_titles() -> None:
    """A title is shown in lists and staff alerts: they never need the citizen's numbers."""
    from intake.domain.titles import ticket_title

    title = ticket_title(None, "您好，我是张三电话13812345678，身份证110101199003071234，路灯坏了")
    assert "13812345678" not in title and "138****5678" in title
    assert "199003071234" not in title and "110101********1234" in title
    assert ticket_title("投诉 13912345678", "x") == "投诉 139****5678"
    assert ticket_title(None, "工单号20261206000123的进度") == "工单号20261206000123的进度"
