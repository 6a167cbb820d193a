"""Hot topics: counts per category, street and word against the period before; a surge of
one topic today is flagged the same day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from intake.domain.clock import SHANGHAI
from intake.domain.models import Citizen, Ticket
from intake.reports.hot import Rules, compute_hot, words
from intake.reports.period import Period
from intake.runtime import Runtime

TODAY = date(2026, 11, 20)


async def tickets(runtime: Runtime, rows: list[tuple[int, str, str, str]]) -> None:
    """(days before today, category, street, title)"""
    async with runtime.db.write() as session, session.begin():
        citizen = Citizen(name=None)
        session.add(citizen)
        await session.flush()
        for n, (ago, category, street, title) in enumerate(rows):
            created = datetime.combine(TODAY - timedelta(days=ago), time(10), SHANGHAI)
            session.add(
                Ticket(
                    number=f"2026112{n:08d}",
                    query_code="ABCDEFGH",
                    citizen_id=citizen.id,
                    channel="web",
                    request_type="complaint",
                    status="received",
                    category=category,
                    district="海港区",
                    street=street,
                    title=title,
                    content=title,
                    co_departments=[],
                    created_at=created,
                    updated_at=created,
                )
            )


async def test_spikes_against_the_period_before(clean_runtime: Runtime) -> None:
    rows = [(0, "noise", "文化路街道", "工地夜间施工噪音")] * 5
    rows += [(3, "noise", "文化路街道", "工地夜间施工噪音")]
    rows += [(9, "noise", "文化路街道", "工地夜间施工噪音")]  # the week before
    rows += [(d, "water-supply", "建设大街街道", "停水没有通知") for d in (1, 2, 4)]
    rows += [(d, "water-supply", "建设大街街道", "停水没有通知") for d in (8, 10, 12)]
    rows += [(20, "noise", "文化路街道", "工地夜间施工噪音")]  # older than both periods
    await tickets(clean_runtime, rows)
    async with clean_runtime.db.read() as session:
        hot = await compute_hot(
            session,
            period=Period.last_days(7, today=TODAY),
            today=TODAY,
            rules=Rules(top=5, min_count=3, ratio=2.0),
        )
    categories = {c["topic"]: c for c in hot["categories"]}
    assert list(categories) == ["noise", "water-supply"]
    noise, water = categories["noise"], categories["water-supply"]
    assert (noise["count"], noise["previous"], noise["today"]) == (6, 1, 5)
    assert noise["spike"] and noise["spike_today"]
    assert (water["count"], water["previous"], water["today"]) == (3, 3, 0)
    assert not water["spike"] and not water["spike_today"]
    assert hot["streets"][0] == {**hot["streets"][0], "topic": "海港区 文化路街道", "count": 6}
    top_words = {w["topic"]: w["count"] for w in hot["words"]}
    assert top_words.get("停水") == 3 and top_words.get("施工") == 6
    assert hot["from"] == "2026-11-14" and hot["to"] == "2026-11-20"


def test_words_leave_out_stop_words_and_numbers() -> None:
    found = words("请问幸福路12号停水了怎么办，谢谢")
    assert "停水" in found and "请问" not in found and "谢谢" not in found
    assert not any(c.isdigit() for w in found for c in w)
