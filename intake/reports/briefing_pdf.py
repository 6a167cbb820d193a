"""A briefing as a document to hand on: its HTML page and the same page as a PDF.

WeasyPrint lays the page out with Pango, so the PDF carries the inline SVG chart and the
Chinese text as text (searchable, copyable); it needs a CJK font installed on the machine
(Debian's `fonts-noto-cjk`, which the page names first). Laying out is CPU work for a
moment: it runs in a thread, so the event loop keeps serving while it does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from intake.reports.briefing import Briefing, render_briefing
from intake.reports.period import Period

PDF = "application/pdf"


@dataclass(frozen=True)
class BriefingDocument:
    kind: Briefing
    period: Period
    html: str
    pdf: bytes | None = None

    @property
    def title(self) -> str:
        """`12345热线日监测 2026-12-05`, a longer period as `first 至 last`."""
        span = f"{self.period.first}"
        if self.period.days > 1:
            span += f" 至 {self.period.last}"
        return f"12345热线{self.kind.title} {span}"

    def filename(self, suffix: str = "pdf") -> str:
        return f"briefing-{self.kind.value}-{self.period.first}.{suffix}"


def html_to_pdf(page: str) -> bytes:
    """The page as PDF (blocking: call it through `render_pdf` from async code)."""
    from weasyprint import HTML  # imported on use: loading Pango costs a moment

    pdf = HTML(string=page).write_pdf()
    assert pdf is not None, "write_pdf without a target returns the document"
    return bytes(pdf)


async def render_pdf(page: str) -> bytes:
    return await asyncio.to_thread(html_to_pdf, page)


async def briefing_document(
    session: AsyncSession, *, kind: Briefing, today: date, pdf: bool = True
) -> BriefingDocument:
    """The briefing `kind` as of `today` (its period ends yesterday), with its PDF."""
    page = await render_briefing(session, kind=kind, today=today)
    return BriefingDocument(
        kind=kind,
        period=kind.period(today),
        html=page,
        pdf=await render_pdf(page) if pdf else None,
    )
