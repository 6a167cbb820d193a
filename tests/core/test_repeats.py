"""Repeats, duplicates and "the answer did not help", through the real pipeline.

Same citizen across channels → the open ticket counts repeats (the third flags 督办); other
citizens' reports of one problem → linked to a master whose reply and closure reach them all;
"没用" after a direct answer → reopened for an agent. SQLite and PostgreSQL both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.directory.accounts import add_staff
from intake.domain.enums import Role
from intake.domain.messages import (
    VOUCHED_PHONE,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)
from intake.domain.models import Message, Ticket
from intake.ingest.outcome_waiter import wait_for_outcome
from intake.ingest.replies import Replies
from intake.runtime import Runtime
from notifier.config import load_notify_settings
from notifier.planner import plan
from tests.core.helpers import drain, request_body

PHONE = "+8613912345678"
FUMES = "东湖区桂花街道幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"
FUMES_AGAIN = "桂花街道幸福路12号那家烧烤店油烟太大了，熏得我们家没法开窗，晚上也很吵。"
FUMES_THIRD = "东湖区桂花街道幸福路12号烧烤店油烟扰民，每天晚上烟很大。"


def message(
    channel: str,
    external_id: str,
    text: str,
    *,
    sender: SenderIdentity,
    phone: str | None = None,
    thread_ref: str | None = None,
    location: Location | None = None,
    at: datetime | None = None,
    vouched: bool = False,
) -> InboundMessage:
    fields: dict[str, object] = {"contact_phone": phone} if phone else {}
    if vouched:
        fields[VOUCHED_PHONE] = True  # the channel checked it is the sender's own number
    return InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=sender,
        kind=MessageKind.TEXT,
        received_at=at or datetime.now(UTC),
        text=text,
        thread_ref=thread_ref,
        location=location,
        fields=fields,
    )


def sms(external_id: str, text: str, *, phone: str = PHONE, **kw: object) -> InboundMessage:
    sender = SenderIdentity(kind=IdentityKind.PHONE, value=phone)
    return message("sms", external_id, text, sender=sender, **kw)  # type: ignore[arg-type]


TELEGRAM = SenderIdentity(kind=IdentityKind.TELEGRAM, value="424242")
MAIL = SenderIdentity(kind=IdentityKind.EMAIL, value="zhang@example.cn")


async def _send(runtime: Runtime, *messages: InboundMessage) -> None:
    for item in messages:
        await runtime.gateway.submit(item)
    await drain(runtime)


async def _tickets(runtime: Runtime) -> list[Ticket]:
    async with runtime.db.read() as session:
        found = await session.scalars(
            select(Ticket).options(selectinload(Ticket.events)).order_by(Ticket.id)
        )
        return list(found)


async def _intents(runtime: Runtime) -> dict[str, str]:
    async with runtime.db.read() as session:
        rows = await session.execute(select(Message.external_id, Message.intent))
        return {external_id: intent for external_id, intent in rows}


async def _instant_reply(runtime: Runtime, channel: str, external_id: str) -> str | None:
    outcome = await wait_for_outcome(
        runtime.redis.client,
        runtime.redis.keys,
        channel=channel,
        external_id=external_id,
        within_s=1,
    )
    assert outcome is not None
    return Replies.load().for_outcome(outcome)


async def test_same_citizen_repeats_across_channels_flag_supervision(runtime: Runtime) -> None:
    await _send(runtime, sms("s1", FUMES))
    await _send(
        runtime,
        message("telegram", "t1", FUMES_AGAIN, sender=TELEGRAM, phone=PHONE, vouched=True),
        sms("s2", FUMES_THIRD),
    )
    (ticket,) = await _tickets(runtime)
    assert ticket.repeat_count == 2 and not ticket.supervision
    reply = await _instant_reply(runtime, "telegram", "t1")
    assert reply is not None and ticket.number in reply and "第 1 次" in reply
    # the Telegram identity is now the citizen's: no phone needed for the third repeat
    await _send(runtime, message("telegram", "t2", FUMES_AGAIN + "到底有没有人管", sender=TELEGRAM))
    await _send(runtime, message("telegram", "t3", "请问社保卡丢了怎么补办？", sender=TELEGRAM))
    first, other = await _tickets(runtime)
    assert first.number == ticket.number and other.category == "social-insurance"
    assert first.repeat_count == 3 and first.supervision
    repeats = [e for e in first.events if e.kind == "repeat"]
    assert [e.data["repeat_count"] for e in repeats] == [1, 2, 3]
    assert [e.data["supervision"] for e in repeats] == [False, False, True]
    assert all(e.public is False and e.data["rule_id"] == "repeat:same-citizen" for e in repeats)
    assert all(e.data["score"] >= 0.35 and "烧烤店" in e.data["matched"] for e in repeats)
    follow_ups = [e for e in first.events if e.kind == "follow_up"]
    assert [e.text for e in follow_ups] == [
        FUMES_AGAIN,
        FUMES_THIRD,
        FUMES_AGAIN + "到底有没有人管",
    ]
    assert await _intents(runtime) == {
        "s1": "new_request",
        "t1": "follow_up",
        "s2": "follow_up",
        "t2": "follow_up",
        "t3": "new_request",
    }


async def test_outside_the_window_or_another_topic_is_a_new_ticket(runtime: Runtime) -> None:
    old = datetime.now(UTC) - timedelta(days=8)
    await _send(runtime, message("email", "e1", FUMES, sender=MAIL, at=old))
    await _send(runtime, message("email", "e2", FUMES_AGAIN, sender=MAIL))
    await _send(runtime, message("email", "e3", "小区门口的路灯坏了好几天，晚上很黑", sender=MAIL))
    tickets = await _tickets(runtime)
    assert len(tickets) == 3 and all(t.repeat_count == 0 for t in tickets)
    assert set((await _intents(runtime)).values()) == {"new_request"}


async def test_a_thread_reply_is_a_follow_up_not_a_repeat(runtime: Runtime) -> None:
    await _send(runtime, message("email", "e1", FUMES, sender=MAIL))
    (ticket,) = await _tickets(runtime)
    await _send(runtime, message("email", "e2", FUMES, sender=MAIL, thread_ref=ticket.number))
    (ticket,) = await _tickets(runtime)
    assert ticket.repeat_count == 0 and [e.kind for e in ticket.events][-1] == "follow_up"


async def test_a_numbered_repeat_keeps_its_number_and_is_linked(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The web form hands out the number at once: the repeat is linked and counted instead."""
    for content in (FUMES, FUMES_AGAIN):
        response = await client.post("/api/v1/requests", json=request_body(content=content))
        assert response.status_code == 201
    await drain(runtime)
    first, second = await _tickets(runtime)
    assert first.repeat_count == 1 and second.master_ticket_id == first.id
    assert second.repeat_count == 0 and first.master_ticket_id is None
    (repeat,) = [e for e in first.events if e.kind == "repeat"]
    assert repeat.data["new_ticket"] == second.number and repeat.data["attached"] is False
    linked = [e for e in second.events if e.kind == "linked"]
    assert linked[0].data == {
        "master": first.number,
        "rule_id": "repeat:same-citizen",
        "score": repeat.data["score"],
        "matched": repeat.data["matched"],
    }


async def _staff(runtime: Runtime, role: Role, department: str | None = None) -> dict[str, str]:
    async with runtime.db.write() as session, session.begin():
        _, token = await add_staff(
            session, name=role.value, role=role, department=department, catalog=runtime.catalog
        )
    return {"Authorization": f"Bearer {token}"}


async def _act(
    client: httpx.AsyncClient, number: str, action: str, headers: dict[str, str], **body: object
) -> str:
    response = await client.post(
        f"/api/v1/tickets/{number}/actions/{action}", json=body, headers=headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_one_visit_answers_every_citizen_who_reported_the_problem(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _send(runtime, sms("a", FUMES, phone="+8613900000001"))
    await _send(
        runtime,
        sms("b", FUMES_AGAIN, phone="+8613900000002"),
        sms("c", FUMES_THIRD, phone="+8613900000003"),
    )
    master, *linked = await _tickets(runtime)
    assert len(linked) == 2
    assert all(t.master_ticket_id == master.id and t.street == "桂花街道" for t in linked)
    assert master.master_ticket_id is None and master.repeat_count == 0
    on_master = [e.data["linked"] for e in master.events if e.kind == "linked"]
    assert on_master == [t.number for t in linked]
    for ticket in linked:
        (event,) = [e for e in ticket.events if e.kind == "linked"]
        assert event.data["master"] == master.number and event.public is False
        assert event.data["rule_id"] == "duplicate:same-problem" and event.data["place"] == "street"
    agent, handler = (
        await _staff(runtime, Role.AGENT),
        await _staff(runtime, Role.HANDLER, "urban-management"),
    )
    await _act(client, master.number, "dispatch", agent, department="urban-management")
    await _act(client, master.number, "accept", handler)
    answer = "已责令该烧烤店安装油烟净化设施，夜间停止露天烧烤。"
    assert await _act(client, master.number, "reply", handler, text=answer) == "replied"
    assert await _act(client, master.number, "close", agent) == "closed"
    master, *linked = await _tickets(runtime)
    for ticket in linked:
        assert ticket.status == "closed" and ticket.department == "urban-management"
        own = [(e.kind, e.text, e.data.get("master_ticket")) for e in ticket.events[-2:]]
        assert own == [("replied", answer, master.number), ("closed", None, master.number)]
    await _each_citizen_is_told(runtime, [master.number, *(t.number for t in linked)], answer)


async def _each_citizen_is_told(runtime: Runtime, numbers: list[str], answer: str) -> None:
    """The domain events reach the stream per ticket, and the notifier plans per ticket."""
    stream = await runtime.redis.client.xrange(runtime.redis.keys.events)
    events = [fields for _, fields in stream if fields["kind"] in ("replied", "closed")]
    assert sorted((e["ticket"], e["kind"]) for e in events) == sorted(
        (n, k) for n in numbers for k in ("replied", "closed")
    )
    cfg = load_notify_settings(runtime.settings.notify)
    jobs = []
    async with runtime.db.read() as session:
        for event in events:
            jobs.extend(await plan(session, event, cfg))
    templates = sorted((job.number, job.template) for job in jobs)
    assert templates == sorted((n, t) for n in numbers for t in ("reply", "closed", "survey"))
    replies = [e for e in events if e["kind"] == "replied"]
    assert all(orjson.loads(e["data"])["text"] == answer for e in replies)


async def test_reports_in_one_batch_link_to_the_first(runtime: Runtime) -> None:
    """The master may not be written yet when its duplicates arrive in the same batch."""
    await _send(
        runtime,
        sms("a", FUMES, phone="+8613900000001"),
        sms("b", FUMES_AGAIN, phone="+8613900000002"),
        sms("c", FUMES_THIRD, phone="+8613900000003"),
    )
    master, *linked = await _tickets(runtime)
    assert [t.master_ticket_id for t in linked] == [master.id, master.id]
    assert [e.data["linked"] for e in master.events if e.kind == "linked"] == [
        t.number for t in linked
    ]


async def test_only_the_same_problem_at_the_same_place_is_linked(runtime: Runtime) -> None:
    await _send(runtime, sms("a", FUMES, phone="+8613900000001"))
    await _send(
        runtime,
        # same street, another shop (another house number)
        sms(
            "b",
            "东湖区桂花街道湖光路88号的火锅店排烟管对着我家窗户，油烟味很重。",
            phone="+8613900000002",
        ),
        # same words, another street
        sms(
            "c", "东湖区湖滨街道幸福路12号烧烤店油烟扰民，每天晚上烟很大。", phone="+8613900000003"
        ),
        # a question about it: consultations are answered one by one
        sms("d", "东湖区桂花街道幸福路12号烧烤店油烟扰民应该找哪个部门？", phone="+8613900000004"),
    )
    tickets = await _tickets(runtime)
    assert len(tickets) == 4 and all(t.master_ticket_id is None for t in tickets)
    assert not any(e.kind == "linked" for t in tickets for e in t.events)


async def test_coordinates_within_the_radius_link_reports(runtime: Runtime) -> None:
    here = Location(latitude=28.6820, longitude=115.8580, label="某大厦")
    near = Location(latitude=28.6829, longitude=115.8585, label="某大厦对面")  # about 110 m
    far = Location(latitude=28.7020, longitude=115.8580, label="某小区")  # about 2.2 km
    text = "楼下烧烤店油烟扰民，每天晚上烟很大，窗户都不敢开"
    again = "楼下那家烧烤店油烟太大了，晚上熏得窗户都不敢开"
    await _send(runtime, sms("a", text, phone="+8613900000001", location=here))
    await _send(
        runtime,
        sms("b", again, phone="+8613900000002", location=near),
        sms("c", again, phone="+8613900000003", location=far),
    )
    first, second, third = await _tickets(runtime)
    assert first.district is None and second.master_ticket_id == first.id
    assert third.master_ticket_id is None
    (event,) = [e for e in second.events if e.kind == "linked"]
    assert event.data["place"] == "point"


SSCARD = "我的社保卡丢了，请问怎么补办？需要带什么材料？"


async def test_not_helpful_reopens_the_direct_answer_for_an_agent(runtime: Runtime) -> None:
    await _send(runtime, sms("q", SSCARD))
    (ticket,) = await _tickets(runtime)
    assert ticket.status == "closed"
    await _send(runtime, sms("n", "没用，还是不知道去哪办"))
    (ticket,) = await _tickets(runtime)
    assert ticket.status == "reopened" and ticket.closed_at is None
    reopened, follow_up = ticket.events[-2:]
    assert reopened.kind == "reopened" and reopened.public and reopened.actor_kind == "citizen"
    assert reopened.data["reason"] == "not_helpful" and reopened.data["matched"] == ["没用"]
    assert reopened.data["kb_entry"] == "sscard-replace"
    assert follow_up.kind == "follow_up" and follow_up.text == "没用，还是不知道去哪办"
    reply = await _instant_reply(runtime, "sms", "n")
    assert reply is not None and ticket.number in reply and "人工" in reply
    assert (await _intents(runtime))["n"] == "follow_up"


async def test_not_helpful_in_the_mail_thread_and_over_another_open_ticket(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _send(runtime, message("email", "q", SSCARD, sender=MAIL))
    (answered,) = await _tickets(runtime)
    await _send(runtime, message("email", "n", "未解决", sender=MAIL, thread_ref=answered.number))
    (answered,) = await _tickets(runtime)
    assert answered.status == "reopened"
    # SMS answered directly, then a complaint on the web form: the SMS sender now has one open
    # ticket, which an SMS would join, but "转人工" is a verdict on the answer
    await _send(runtime, sms("q2", SSCARD, phone="+8613900000009"))
    body = request_body(phone="13900000009", content="小区门口的路灯坏了好几天，晚上很黑")
    assert (await client.post("/api/v1/requests", json=body)).status_code == 201
    await drain(runtime)
    await _send(runtime, sms("n2", "转人工", phone="+8613900000009"))
    _, consult, complaint = await _tickets(runtime)
    assert complaint.status == "received" and consult.status == "reopened"
    assert consult.events[-1].kind == "follow_up" and consult.events[-1].text == "转人工"
    assert not any(e.kind == "follow_up" for e in complaint.events)


async def test_not_helpful_needs_a_recent_direct_answer(runtime: Runtime) -> None:
    await _send(runtime, sms("x", "没用"))  # nothing was answered: a request as before
    await _send(runtime, message("email", "q", SSCARD, sender=MAIL))
    later = datetime.now(UTC) + timedelta(days=8)
    await _send(runtime, message("email", "late", "没有帮助", sender=MAIL, at=later))
    await _send(
        runtime,
        message("email", "long", "不行的话我再换个问题问问：居住证怎么办理？", sender=MAIL),
    )
    tickets = await _tickets(runtime)
    assert [t.status for t in tickets].count("reopened") == 0
    intents = await _intents(runtime)
    assert intents["x"] == intents["late"] == intents["long"] == "new_request"
