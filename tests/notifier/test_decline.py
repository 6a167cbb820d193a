"""Staff action `decline` (不予受理) through the staff API: the polite reply goes out through
the notifier and the ticket closes, counted apart from 办结; the suggestion triage recorded is
the default reason and reply; handlers may not decline; a closed ticket cannot be."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select

from intake.domain.enums import EventKind, Role
from intake.domain.events import add_event
from intake.domain.models import Ticket
from intake.runtime import Runtime
from intake.tickets.citizen_view import public_status
from notifier.service import Notifier
from tests.notifier.conftest import Recorder
from tests.notifier.helpers import delivery, events, new_ticket, staff, ticket

MakeNotifier = Callable[..., Notifier]

WAGES = "餐馆老板拖欠了我三个月工资一万二千元，家里老人住院急需用钱，想问问怎么尽快拿到工资。"
COURT_CASE = "幸福路12号楼下烧烤店油烟扰民的事我已经和店主调解过三次了，这次想请你们看看。"


async def _suggest(runtime: Runtime, number: str, rule_id: str) -> dict[str, object]:
    """Triage's `triaged` event with an out-of-scope suggestion, as the pipeline records one
    when unsure (the guard's own decision on a given letter is tuned elsewhere), made of the
    shipped out-of-scope rule."""
    assert runtime.triage is not None
    rule = next(r for r in runtime.triage.triage.catalogue.out_of_scope if r.id == rule_id)
    suggestion = {"rule_id": rule.id, "name": rule.name, "matched": ["仲裁"], "reply": rule.reply}
    async with runtime.db.write() as session, session.begin():
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        data = {"needs_human": True, "out_of_scope_suggestion": suggestion}
        add_event(session, found, EventKind.TRIAGED, at=runtime.clock(), public=False, data=data)
    return suggestion


async def _decline(
    http: httpx.AsyncClient, number: str, headers: dict[str, str], **body: str
) -> httpx.Response:
    return await http.post(f"/api/v1/tickets/{number}/actions/decline", json=body, headers=headers)


async def test_decline_follows_the_suggestion_sends_the_reply_and_closes(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: MakeNotifier,
    senders: dict[str, Recorder],
) -> None:
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="sms", text=WAGES)
    suggestion = await _suggest(nruntime, number, "arbitration")
    await notifier.run_due()  # the acknowledgement
    _, agent = await staff(nruntime, Role.AGENT)
    response = await _decline(http, number, agent)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed" and response.json()["category"] == "out-of-scope"
    (closed,) = await events(nruntime, number, "closed")
    assert closed.data["resolution"] == "declined" and closed.data["out_of_scope"] == "arbitration"
    assert closed.data["reason"] == "仲裁事项" and closed.text == suggestion["reply"]
    declined = await ticket(nruntime, number)
    assert declined.closed_at is not None
    shown = await public_status(nruntime, number=number, phone=None, code=declined.query_code)
    assert shown.status == "closed" and shown.status_label == "不予受理"  # not 已办结
    await notifier.run_due()
    (sent,) = [m for m in senders["sms"].sent if m.template == "declined"]
    assert sent.text.endswith(closed.text or "") and number in sent.text
    row = await delivery(nruntime, f"declined:{closed.id}")
    assert row is not None and row.status == "sent"
    assert await delivery(nruntime, f"survey:{closed.id}") is None  # nothing to rate


async def test_decline_with_reason_and_place_and_its_refusals(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: MakeNotifier,
    senders: dict[str, Recorder],
) -> None:
    notifier = make_notifier(senders)
    number = await new_ticket(nruntime, channel="sms", external_id="plain", text=COURT_CASE)
    _, agent = await staff(nruntime, Role.AGENT)
    _, supervisor = await staff(nruntime, Role.SUPERVISOR)
    _, handler = await staff(nruntime, Role.HANDLER, "environment")
    assert (await _decline(http, number, handler, reason="涉诉")).status_code == 403
    nothing = await _decline(http, number, agent)  # no body and no suggestion
    assert nothing.status_code == 422 and "reason" in nothing.text
    no_place = await _decline(http, number, agent, reason="已进入诉讼程序")
    assert no_place.status_code == 422 and "refer_to" in no_place.text
    accepted = await http.post(f"/api/v1/tickets/{number}/actions/accept", headers=agent)
    assert accepted.json()["status"] == "accepted"
    done = await _decline(
        http, number, supervisor, reason="已进入诉讼程序", refer_to="审理该案的人民法院"
    )
    assert done.status_code == 200 and done.json()["status"] == "closed"
    (closed,) = await events(nruntime, number, "closed")
    assert closed.data["refer_to"] == "审理该案的人民法院" and closed.data["out_of_scope"] is None
    assert "审理该案的人民法院" in (closed.text or "") and "不予受理" in (closed.text or "")
    again = await _decline(http, number, agent, reason="x", refer_to="y")
    assert again.status_code == 409
    await notifier.run_due()
    (sent,) = [m for m in senders["sms"].sent if m.template == "declined"]
    assert "审理该案的人民法院" in sent.text
