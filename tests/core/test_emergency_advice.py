"""Emergency advice in the first answer: the web API's 201 and the form's confirmation page
carry 119 for a fire happening now, before any pipeline has run; a past fire gets none."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import select

from intake.domain.models import Ticket
from intake.runtime import Runtime
from intake.triage import Triage
from intake.triage.alarm import Alarm
from tests.core.helpers import drain, request_body, ticket_count

FIRE = "幸福路12号3楼着火了，浓烟从窗户往外冒，楼上还有老人没下来，请赶快派人！"
PAST_FIRE = (
    "去年着过火的幸福路12号那栋楼，去年冬天楼下也着火了，后来物业说要整改消防通道，"
    "到现在通道还是被电动车堵着，请督促物业清理。"
)


async def test_fire_through_the_json_api_gets_119_in_the_201(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.post("/api/v1/requests", json=request_body(content=FIRE))
    assert response.status_code == 201, response.text
    body = response.json()
    assert await ticket_count(runtime) == 0  # answered before the pipeline ran
    assert body["emergency"]["number"] == "119"
    assert "119" in body["emergency"]["advice"]
    assert body["status"] == "received" and body["duplicate"] is False
    retry = await client.post(
        "/api/v1/requests",
        json=request_body(content=FIRE),
        headers={"Idempotency-Key": "fire-1"},
    )
    again = await client.post(
        "/api/v1/requests",
        json=request_body(content=FIRE),
        headers={"Idempotency-Key": "fire-1"},
    )
    assert again.json()["duplicate"] is True
    assert again.json()["emergency"] == retry.json()["emergency"] == body["emergency"]
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == body["number"]))
    assert ticket is not None and ticket.urgent  # the pipeline still marks it urgent


async def test_fire_through_the_form_shows_119_on_the_confirmation_page(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/requests",
        data=request_body(content=FIRE),
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 201
    page = response.text
    assert 'class="card emergency"' in page and "请立即拨打 119" in page
    assert page.index("请立即拨打 119") < page.index("您的诉求已提交")


async def test_past_fire_and_ordinary_requests_get_no_advice(client: httpx.AsyncClient) -> None:
    for content in (PAST_FIRE, request_body()["content"]):
        response = await client.post("/api/v1/requests", json=request_body(content=content))
        assert response.status_code == 201
        assert "emergency" not in response.json()
    page = await client.post(
        "/api/v1/requests", data=request_body(content=PAST_FIRE), headers={"Accept": "text/html"}
    )
    assert page.status_code == 201 and "请立即拨打" not in page.text


def test_the_prefilter_never_hides_what_the_guard_finds() -> None:
    """Whitespace between characters, full-width forms and a Kangxi radical (NFKC folds it
    into 火) are found as the engine finds them, and so is every letter of the corpus; text
    without a keyword skips the guard."""
    triage = Triage.load()
    alarm = Alarm(triage)
    texts = [
        FIRE,
        PAST_FIRE,
        "幸福路 12 号 着　火 了！！",
        "幸福路１２号着⽕了，快来人",
        "我爸突然晕倒了，怎么叫都叫不醒",
        "有没有意识到这个问题？",
        "小区门口路灯不亮，请维修。",
        "",
    ]
    corpus = Path(__file__).parents[1] / "fixtures" / "triage" / "corpus"
    for path in sorted(corpus.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            letter = json.loads(line)
            texts.append(f"{letter['title']}\n{letter['text']}")
    for text in texts:
        hit = triage.emergency(text)
        advice = alarm.check(text)
        assert (hit is None) == (advice is None), text
        if hit is not None and advice is not None:
            assert advice.number == hit.service
    assert alarm.check("幸福路１２号着⽕了，快来人") is not None
    assert not alarm.may_match("小区门口路灯不亮，请维修。")


async def test_danger_in_words_no_list_holds_gets_120_in_the_201(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    text = "我爸刚才在客厅一下子栽倒了，怎么喊都不答应，眼睛往上翻着"
    response = await client.post("/api/v1/requests", json=request_body(content=text))
    assert response.status_code == 201, response.text
    assert response.json()["emergency"]["number"] == "120"
    await drain(runtime)
    async with runtime.db.read() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.number == response.json()["number"])
        )
    assert ticket is not None and ticket.urgent
