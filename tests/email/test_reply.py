"""The reply extraction cases named in the issue, one by one (the corpus tests cover the rest)."""

from __future__ import annotations

import random

import pytest

from channels.email.parse import parse_mail
from channels.email.reply import extract_reply
from channels.email.text import decode_header_bytes, html_to_text

COMPLAINT = "幸福路的路灯坏了三天了，晚上很不安全。"


def test_forward_with_a_covering_line_keeps_the_forwarded_complaint() -> None:
    body = (
        "FYI\n\n---------- Forwarded message ----------\nFrom: 李四 <lisi@example.test>\n"
        f"Date: Sat, Dec 5, 2026 at 8:11 PM\nSubject: 路灯\nTo: sq@example.test\n\n{COMPLAINT}\n"
    )
    reply = extract_reply(body)
    assert reply.text == f"FYI\n\n{COMPLAINT}"
    assert reply.forwarded is not None
    assert reply.forwarded.sender == "李四 <lisi@example.test>"
    assert reply.forwarded.date == "Sat, Dec 5, 2026 at 8:11 PM"


def test_netease_forward_in_chinese() -> None:
    body = (
        '请帮忙处理\n\n-------- 转发邮件信息 --------\n发件人："李四" <lisi@example.test>\n'
        f"发送日期：2026-12-05 20:11:03\n收件人：sq@example.test\n主题：路灯\n\n{COMPLAINT}"
    )
    reply = extract_reply(body)
    assert reply.text == f"请帮忙处理\n\n{COMPLAINT}"
    assert reply.forwarded is not None and reply.forwarded.date == "2026-12-05 20:11:03"


def test_bottom_posting_keeps_the_answer_below_the_quote() -> None:
    body = "On Sun, Dec 6, 2026 at 10:15 AM Hotline <h@x.test> wrote:\n> 已受理\n>\n\n还没有修好。"
    reply = extract_reply(body)
    assert (reply.text, reply.quote) == ("还没有修好。", "bottom")


@pytest.mark.parametrize(
    "header",
    [
        "On 11-Apr-2011, at 6:54 PM, Roman <romant@example.com> sent:",
        "---- John Smith wrote ----",
        "------On 12/29/1987 17:32 PM, Julius Caesar wrote-----",
        "Sent from Samsung MobileName <address@example.com> wrote:",
        "2014-10-17 11:28 GMT+03:00 Postmaster <\npostmaster@example.org>:",
        "On Tue, Apr 11, 2017 at 10:07 PM John Smith\n\n<\nmailto:John Smith <js@gmail.com>\n"
        "> wrote:",
        "Date: Wed, 16 May 2012 00:15:02 -0600\nTo: klizhentas@example.com",
        '------------------ 原始邮件 ------------------\n发件人: "热线"<h@x.test>;\n'
        '发送时间: 2026年12月6日(星期天) 上午10:15\n收件人: "张三"<z@qq.test>;\n主题: 已受理',
        "在 2026年12月6日，上午10:15，12345热线 <h@x.test> 写道：",
        "12345热线 <h@x.test> 于2026年12月6日周日 上午10:15写道：",
        "发件人: 12345热线 <h@x.test>\n发送时间: 2026年12月6日 10:15\n收件人: 张三\n主题: 已受理",
        "发件人：12345热线 <h@x.test>\n发送时间：2026年12月6日(星期日) 10:15\n主\u3000题：已受理",
    ],
)
def test_quote_headers(header: str) -> None:
    assert extract_reply(f"我的回答。\n\n{header}\n\n> 旧的内容\n>\n> 旧的").text == "我的回答。"
    assert extract_reply(f"我的回答。\n\n{header}\n旧的内容").text == "我的回答。"


def test_arrow_lines_are_the_citizens_own() -> None:
    body = "路线：\n>>> 幸福路 >>> 人民路\n都不亮。"
    assert extract_reply(body).text == body


def test_mobile_tagline_is_cut_but_not_when_it_is_part_of_a_sentence() -> None:
    assert extract_reply("好的\n\n发自我的iPhone\n\n> 旧").text == "好的"
    text = "短信结尾写着\n发自我的iPhone，我没有iPhone，请核实。"
    assert extract_reply(text).text == text


def test_html_rule_and_inline_from_block() -> None:
    html = (
        "<div>Hi there</div><hr><b>From:</b> a@b.test <b>Sent:</b> Friday <b>To:</b> x "
        "<b>Subject:</b> y<p>old</p>"
    )
    assert extract_reply(html_to_text(html)).text == "Hi there"


def test_when_unsure_the_text_is_kept() -> None:
    letter = "情况说明\n时间：12月5日晚上\n地点：幸福路12号\n\n请尽快处理。"
    assert extract_reply(letter).text == letter
    quoted_only = "> 整封都是引用"
    assert extract_reply(quoted_only).text == quoted_only


def test_header_bytes_never_become_utf16() -> None:
    rng = random.Random(24)
    for _ in range(300):
        name = bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 12)))
        text = decode_header_bytes(name + b" <lisi@example.test>")
        assert text.endswith("<lisi@example.test>"), text


def test_a_bad_byte_in_a_raw_from_keeps_the_sender() -> None:
    for name in ("李四".encode() + b"\xff", b"\xe6\x9d\x8e\xe5\x9b", "王".encode("gbk") + b"\x80"):
        raw = (
            b"From: " + name + b" <lisi@example.test>\r\nSubject: x\r\n\r\n\xe8\xb7\xaf\xe7\x81\xaf"
        )
        message = parse_mail(raw, mailbox_address="hotline@city.example.test").message
        assert message.sender.value == "lisi@example.test"
        assert message.kind.value == "text"
