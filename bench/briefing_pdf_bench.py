"""How long a briefing takes to become a PDF: a monthly briefing (30 bars, `--departments`
rows of KPIs, ten rows per hot-topic table) laid out by WeasyPrint `--repeat` times; prints
the median, the slowest and the PDF's size. Needs Pango and a CJK font (see the README).

    python bench/briefing_pdf_bench.py [--departments 12] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from intake.reports.briefing import CHART_HEIGHT, CHART_WIDTH, Briefing, _templates, bars
from intake.reports.briefing_pdf import html_to_pdf
from intake.reports.kpis import KPIS

TOPICS = ["噪音扰民", "停水", "油烟", "暖气不热", "拖欠工资", "红绿灯故障", "占道经营", "垃圾清运"]


def page(departments: int) -> str:
    period = Briefing.MONTHLY.period(date(2026, 12, 6))
    per_day = {period.first + timedelta(days=i): 200 + 37 * (i % 7) for i in range(period.days)}
    tally = {name: {"rate": 0.875, "numerator": 7, "denominator": 8} for name in KPIS}
    hot = {
        kind: [
            {
                "topic": TOPICS[i % len(TOPICS)],
                "count": 90 - i,
                "previous": 40,
                "today": 3,
                "spike": i == 0,
                "spike_today": False,
            }
            for i in range(10)
        ]
        for kind in ("categories", "streets", "words")
    }
    return _templates.get_template("briefing.html").render(
        kind=Briefing.MONTHLY,
        period=period,
        kpis={"overall": tally, "departments": {f"dept-{i}": tally for i in range(departments)}},
        names=KPIS,
        total=sum(per_day.values()),
        bars=bars(per_day),
        chart={"width": CHART_WIDTH, "height": CHART_HEIGHT},
        hot=hot,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--departments", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    html = page(args.departments)
    html_to_pdf(html)  # the first run loads Pango and the fonts
    times, size = [], 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        size = len(html_to_pdf(html))
        times.append(time.perf_counter() - start)
    print(
        f"monthly briefing, {args.departments} departments: median "
        f"{statistics.median(times) * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms, "
        f"{size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
