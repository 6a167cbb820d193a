"""Hot topics: the top categories, streets and words of the last N days, with spikes.

A topic spikes when it has at least `min_count` tickets and at least `ratio` times as many
as in the period of the same length before. So that a surge is seen the day it starts, each
topic also carries today's count against its daily mean over the period before today, and
`spike_today` by the same rule.

`compute_hot` reads per-day topic counts kept by the summary worker (`intake.reports.tables`);
`direct_hot` cuts every title of the two periods, the reference those counts are tested
against. Topics of equal count rank by name.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import jieba
from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.models import Ticket
from intake.reports.period import Period, local_day
from intake.reports.summary_state import (
    built_days,
    changed_subquery,
    changed_tickets,
    snapshot,
    unbuilt_ranges,
)
from intake.reports.tables import report_daily_topics, report_ticket_facts

_STOP = """我们 你们 他们 这个 那个 什么 怎么 为什么 没有 可以 一下 一直 已经 现在 今天 每天
问题 情况 反映 投诉 咨询 请问 希望 相关 部门 处理 解决 谢谢 你好 您好 影响 严重 附近 小区 居民"""
STOP_WORDS = frozenset(_STOP.split())
MAX_TEXT = 200
THREAD_ABOVE = 100  # titles cut in the event loop's own thread


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
    """From the per-day topic counts of the summarised days, corrected for the tickets
    changed since (their old topics taken out, their present ones cut live), plus the
    tickets of the days not summarised: equal to `direct_hot`, in one snapshot."""
    rules = rules or Rules()
    window = Period(period.previous().first, period.last)
    counts = Counts(period, today)
    async with snapshot(session) as conn:
        built = await built_days(conn, window)
        listed = await changed_tickets(conn)
        changed: Any = changed_subquery() if listed is None else listed
        any_changed = listed is None or bool(listed)
        t, f = report_daily_topics, report_ticket_facts
        if built:
            bucket = case((t.c.day == today, 2), (t.c.day >= period.first, 1), else_=0)
            summed = (
                select(t.c.kind, t.c.topic, bucket.label("bucket"), func.sum(t.c.count))
                .where(t.c.day.in_(built))
                .group_by(t.c.kind, t.c.topic, bucket)
            )
            for kind, topic, where, n in await conn.execute(summed):
                counts.add_to(kind, topic, int(n), where)
        if built and any_changed:
            undone = select(f.c.day, f.c.category, f.c.street, f.c.words).where(
                f.c.day.in_(built), f.c.ticket_id.in_(changed)
            )
            for day, category, street, found in await conn.execute(undone):
                topics = {
                    "categories": [category] if category else [],
                    "streets": [street] if street else [],
                    "words": list(found),
                }
                counts.add(day, topics, -1)
        live = [Ticket.id.in_(changed)] if any_changed else []
        live += [
            (Ticket.created_at >= start) & (Ticket.created_at < end)
            for start, end in unbuilt_ranges(window, built)
        ]
        rows: list[Any] = []
        if live:
            within = (Ticket.created_at >= window.start) & (Ticket.created_at < window.end)
            rows = list((await conn.execute(_topic_columns().where(within & or_(*live)))).all())
    for row, topics in zip(rows, await cut_topics([tuple(r[1:]) for r in rows]), strict=True):
        counts.add(local_day(row[0]), topics, 1)
    return counts.report(rules)


async def direct_hot(
    session: AsyncSession, *, period: Period, today: date, rules: Rules | None = None
) -> dict[str, Any]:
    """The reference: every ticket of the period and the one before, cut here."""
    rules = rules or Rules()
    window = Period(period.previous().first, period.last)
    counts = Counts(period, today)
    query = _topic_columns().where(
        Ticket.created_at >= window.start, Ticket.created_at < window.end
    )
    for created_at, *fields in (await session.execute(query)).all():
        counts.add(local_day(created_at), topics_of(*fields), 1)
    return counts.report(rules)


def _topic_columns() -> Any:
    return select(Ticket.created_at, Ticket.category, Ticket.district, Ticket.street, Ticket.title)


async def cut_topics(
    rows: list[tuple[str | None, str | None, str | None, str | None]],
) -> list[dict[str, list[str]]]:
    """`topics_of` of many tickets; a long list is cut in a thread, so that the event loop
    serving requests is not held while jieba works."""
    if len(rows) <= THREAD_ABOVE:
        return [topics_of(*row) for row in rows]
    return await asyncio.to_thread(lambda: [topics_of(*row) for row in rows])


def topics_of(
    category: str | None, district: str | None, street: str | None, title: str | None
) -> dict[str, list[str]]:
    """A ticket's topics: its category, its district and street, the words of its title."""
    return {
        "categories": [category] if category else [],
        "streets": [" ".join(p for p in (district, street) if p)] if street or district else [],
        "words": sorted(words(title or "")),
    }


class Counts:
    """Topic counts of the period, of the period before, and of today."""

    def __init__(self, period: Period, today: date) -> None:
        self.period, self.today = period, today
        kinds = ("categories", "streets", "words")
        self.current: dict[str, Counter[str]] = {k: Counter() for k in kinds}
        self.previous: dict[str, Counter[str]] = {k: Counter() for k in kinds}
        self.on_today: dict[str, Counter[str]] = {k: Counter() for k in kinds}

    def add(self, day: date, topics: dict[str, list[str]], sign: int) -> None:
        where = 2 if day == self.today else 1 if day >= self.period.first else 0
        for kind, found in topics.items():
            for topic in found:
                self.add_to(kind, topic, sign, where)

    def add_to(self, kind: str, topic: str, n: int, where: int) -> None:
        """`where`: 0 the period before, 1 the period, 2 today (which is in the period)."""
        (self.current if where else self.previous)[kind][topic] += n
        if where == 2:
            self.on_today[kind][topic] += n

    def report(self, rules: Rules) -> dict[str, Any]:
        days_before_today = max((self.today - self.period.first).days, 1)
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            **{
                kind: _ranked(
                    self.current[kind],
                    self.previous[kind],
                    self.on_today[kind],
                    days_before_today,
                    rules,
                )
                for kind in self.current
            },
        }


def _ranked(
    now: Counter[str], before: Counter[str], today: Counter[str], days: int, rules: Rules
) -> list[dict[str, Any]]:
    """The `top` topics by count, ties by topic, so that equal counts rank the same way
    whichever order the rows came in."""
    items = []
    ranked = sorted(((c, t) for t, c in now.items() if c > 0), key=lambda ct: (-ct[0], ct[1]))
    for count, topic in ranked[: rules.top]:
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
