"""A phone caller is answered by SMS: the acknowledgement of a filed call, and the answer and
the survey of a call answered at once (直接答复), as for every channel with a phone."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from intake.domain.enums import Role
from intake.runtime import Runtime
from notifier.service import Notifier
from tests.notifier.conftest import FakeClock, Recorder
from tests.notifier.helpers import PHONE, delivery, events, staff

ANSWER = "请携带身份证到任一社保服务网点补办。"


async def _call(http: httpx.AsyncClient, agent: dict[str, str], **body: str) -> str:
    payload = {"call_id": uuid.uuid4().hex, "phone": "138 1234 5678", **body}
    response = await http.post("/api/v1/tickets", json=payload, headers=agent)
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


async def test_the_caller_gets_the_acknowledgement_the_answer_and_the_survey_by_sms(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
    clock: FakeClock,
) -> None:
    sms = Recorder("sms")
    notifier = make_notifier({"sms": sms})
    _, agent = await staff(nruntime, Role.AGENT)
    filed = await _call(http, agent, request_type="complaint", content="人民路路灯坏了一个星期")
    answered = await _call(
        http, agent, request_type="consultation", content="我的社保卡不小心弄丢了，要怎么补办？",
        answer=ANSWER,
    )
    await nruntime.pipeline_worker(consumer="test").drain(limit_s=30)
    await notifier.run_due()
    assert {m.recipient.value for m in sms.sent} == {PHONE}
    texts = [m.text for m in sms.sent]
    assert any(filed in t for t in texts), texts  # the filed call's acknowledgement
    assert any(ANSWER in t for t in texts), texts  # the answer given on the call, in writing
    before = len(sms.sent)
    clock.advance(hours=2, minutes=1)
    await notifier.run_due()
    surveys = [m.text for m in sms.sent[before:]]
    assert len(surveys) == 1 and answered in surveys[0], surveys  # surveyed like any other


async def test_no_callback_task_for_the_acknowledgement_the_agent_read_out(
    nruntime: Runtime,
    http: httpx.AsyncClient,
    make_notifier: Callable[..., Notifier],
) -> None:
    """Without SMS the acknowledgement reaches nobody; the caller heard the number already."""
    notifier = make_notifier({"email": Recorder("email")})
    _, agent = await staff(nruntime, Role.AGENT)
    number = await _call(http, agent, request_type="complaint", content="人民路路灯坏了一个星期")
    await nruntime.pipeline_worker(consumer="test").drain(limit_s=30)
    await notifier.run_due()
    ack = await delivery(nruntime, f"ack:{number}")
    assert ack is not None and ack.status == "skipped", ack
    notes = await events(nruntime, number, "note")
    assert not [n for n in notes if n.data.get("task") == "callback_by_phone"]
