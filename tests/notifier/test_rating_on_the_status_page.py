"""A rating given on the web status page answers the ticket's survey: the same prompt as the
survey's, so a survey answered or sent is not asked again, and 不满意 reopens under supervision."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from sqlalchemy import select

from intake.domain.enums import Role
from intake.runtime import Runtime
from notifier.answers import rate_ticket
from notifier.models import Prompt
from notifier.service import Notifier
from service.wiring import notifier_parts
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import (
    closed_and_surveyed,
    delivery,
    events,
    new_ticket,
    staff,
    ticket,
)


async def _prompts(runtime: Runtime, ticket_id: int) -> list[Prompt]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(Prompt).where(Prompt.ticket_id == ticket_id)))


async def test_rated_before_the_callback_the_survey_is_not_sent(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    notifier = make_notifier(senders)
    _, agent = await staff(nruntime, Role.AGENT)
    number = await new_ticket(nruntime, channel="email")
    for action, body in (("accept", {}), ("close", {"text": "已答复：可在网上办理。"})):
        url = f"/api/v1/tickets/{number}/actions/{action}"
        done = await http.post(url, json=body, headers=agent)
        assert done.status_code == 200, done.text
    await notifier.run_due()
    closed = await ticket(nruntime, number)
    outcome = await rate_ticket(
        notifier_parts(nruntime), ticket_id=closed.id, rating="satisfied", channel="web"
    )
    assert outcome.status == "recorded" and outcome.rating == "satisfied"
    clock.advance(hours=2)
    await notifier.run_due()
    assert all(m.template != "survey" for m in senders["email"].sent)
    (closing,) = await events(nruntime, number, "closed")
    survey = await delivery(nruntime, f"survey:{closing.id}")
    assert survey is not None and survey.status == "skipped"
    (prompt,) = await _prompts(nruntime, closed.id)
    assert prompt.status == "answered" and prompt.answer is not None
    assert prompt.answer["channel"] == "web"
    again = await rate_ticket(
        notifier_parts(nruntime), ticket_id=closed.id, rating="unsatisfied", channel="web"
    )
    assert again.status == "late" and (await ticket(nruntime, number)).status == "closed"


async def test_rated_after_the_survey_answers_it(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    notifier = make_notifier(senders)
    number = await closed_and_surveyed(nruntime, http, notifier, clock)
    assert senders["email"].sent[-1].template == "survey"
    closed = await ticket(nruntime, number)
    outcome = await rate_ticket(
        notifier_parts(nruntime), ticket_id=closed.id, rating="unsatisfied", channel="web"
    )
    assert outcome.status == "recorded" and outcome.reopened
    (prompt,) = await _prompts(nruntime, closed.id)  # the survey's own prompt
    assert prompt.status == "answered"
    reopened = await ticket(nruntime, number)
    assert reopened.status == "reopened" and reopened.supervision
    link = re.findall(r"/r/[\w-]+", senders["email"].sent[-1].text)[0]
    assert "已评价或已过期" in (await http.get(link)).text
