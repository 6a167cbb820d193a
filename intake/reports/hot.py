"""Hot topics: the top categories, streets and words of the last N days, with spikes.

A topic spikes when it has at least `min_count` tickets and at least `ratio` times as many
as in the period of the same length before. So that a surge is seen the day it starts, each
topic also carries today's count against its daily mean over the period before today, and
`spike_today` by the same rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import jieba
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import Ticket
from intake.reports.period import Period, local_day

_STOP = """我们 你们 他们 这个 那个 什么 怎么 为什么 没有 可以 一下 一直 已经 现在 今天 每天
问题 情况 反映 投诉 咨询 请问 希望 相关 部门 处理 解决 谢谢 你好 您好 影响 严重 附近 小区 居民"""
STOP_WORDS = frozenset(_STOP.split())
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class Rules:
    top: int = 10
    min_count: int = 5
    ratio: float = 2.0

    def spikes(self, count: float, before: float) -> bool:
        return count >= self.min_count and count >= self.ratio * max(before, 1.0)


async def compute_hot(
    session: AsyncSession, *, period: Period, today: date, rules: Rules | None = None
) -> dict[str, Any]:
    rules = rules or Rules()
    before = period.previous()
    query = select(
        Ticket.created_at, Ticket.category, Ticket.district, Ticket.street, Ticket.title
    ).where(Ticket.created_at >= before.start, Ticket.created_at < period.end)
    current: dict[str, Counter[str]] = {k: Counter() for k in ("categories", "streets", "words")}
    previous = {k: Counter[str]() for k in current}
    on_today = {k: Counter[str]() for k in current}
    for created_at, category, district, street, title in (await session.execute(query)).all():
        day = local_day(created_at)
        topics = {
            "categories": [category] if category else [],
            "streets": [" ".join(p for p in (district, street) if p)] if street or district else [],
            "words": sorted(words(title or "")),
        }
        target = current if day >= period.first else previous
        for kind, found in topics.items():
            target[kind].update(found)
            if day == today:
                on_today[kind].update(found)
    days_before_today = max((today - period.first).days, 1)
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        **{
            kind: _ranked(current[kind], previous[kind], on_today[kind], days_before_today, rules)
            for kind in current
        },
    }


def _ranked(
    now: Counter[str], before: Counter[str], today: Counter[str], days: int, rules: Rules
) -> list[dict[str, Any]]:
    items = []
    for topic, count in now.most_common(rules.top):
        earlier_mean = (count - today[topic]) / days
        items.append(
            {
                "topic": topic,
                "count": count,
                "previous": before[topic],
                "spike": rules.spikes(count, before[topic]),
                "today": today[topic],
                "spike_today": rules.spikes(today[topic], earlier_mean),
            }
        )
    return items


def words(text: str) -> set[str]:
    """The content words of a title: two characters or more, no numbers, no stop words."""
    return set(_content(jieba.lcut(text[:MAX_TEXT])))


def _content(tokens: Iterable[str]) -> Iterable[str]:
    for token in tokens:
        token = token.strip()
        if len(token) >= 2 and token not in STOP_WORDS and not _numeric(token):
            yield token


def _numeric(token: str) -> bool:
    return any(c.isdigit() for c in token) or (token.isascii() and not token.isalpha())
