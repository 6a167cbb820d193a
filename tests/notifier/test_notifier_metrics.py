"""`/metrics` of the notifier's side: deliveries by channel and outcome, survey answers."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from intake.runtime import Runtime
from notifier.service import Notifier
from tests.core.test_metrics import grew, scrape
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import closed_and_surveyed


async def test_deliveries_and_survey_answers_are_counted(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    senders: dict[str, Recorder],
    clock: FakeClock,
) -> None:
    before = await scrape(http)
    notifier = make_notifier(senders)
    await closed_and_surveyed(nruntime, http, notifier, clock)
    sent = len(senders["email"].sent)
    survey = senders["email"].sent[-1]
    _, _, unsatisfied = re.findall(r"http://127\.0\.0\.1:8000(/r/[\w-]+)", survey.text)
    assert (await http.get(unsatisfied)).status_code == 200
    assert (await http.get(unsatisfied)).status_code == 200  # already recorded: not again
    after = await scrape(http)
    deliveries = "intake_deliveries_total"
    assert grew(before, after, deliveries, channel="email", outcome="sent") == sent >= 2
    answers = "intake_survey_answers_total"
    assert grew(before, after, answers, rating="unsatisfied", channel="link") == 1
    rated = {"method": "GET", "route": "/r/{token}", "status": "2xx"}
    assert grew(before, after, "intake_http_request_duration_seconds_count", **rated) == 2
