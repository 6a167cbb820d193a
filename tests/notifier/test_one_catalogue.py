"""One catalogue (`intake/texts/`): a channel's own reply and the notifier job it stands in for
render the same template with the same facts, and one override folder serves both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from intake.catalog import Catalog
from intake.config import load_settings
from intake.domain.emergency_advice import EmergencyAdvice
from intake.domain.errors import ConfigurationError
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.ingest.outcomes import Outcome
from intake.ingest.replies import Replies
from intake.ingest.send_state import carried_by_reply
from intake.texts import SHIPPED, Renderer
from notifier.compose import base_context, build_message
from notifier.config import NotifySettings, load_notify_settings
from notifier.facts import TicketFacts
from notifier.jobs import JobSpec
from notifier.planner import plan
from notifier.routing import Route

ZONE = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
NUMBER, CODE = "2026031000001", "ABCD2345"
ADVICE = EmergencyAdvice("119", "消防救援", "如有明火或人员被困，请立即拨打119。", "fire")
DUE = AT + timedelta(days=5)
FACTS = {"title": "路灯坏了", "request_type": "complaint", "due": DUE.isoformat()}


def facts(channel: str = "sms") -> TicketFacts:
    return TicketFacts(
        id=1,
        number=NUMBER,
        query_code=CODE,
        citizen_id=1,
        channel=channel,
        status="received",
        urgent=False,
        title="路灯坏了",
        request_type="complaint",
        department=None,
        due_at=DUE,
        contact_phone="13800138000",
        contact_name=None,
    )


def sent_text(spec: JobSpec, renderer: Renderer, channel: str = "sms") -> str:
    """What the notifier sends for `spec` on `channel`."""
    context = base_context(spec, facts(channel), Catalog(departments={}), ZONE)
    route = Route(channel, SenderIdentity(kind=IdentityKind.PHONE, value="13800138000"))
    message = build_message(
        spec=spec, route=route, context=context, renderer=renderer, public_url="", secret="k"
    )
    return message.text


async def planned(kind: str, data: dict[str, Any], cfg: NotifySettings) -> list[JobSpec]:
    event = {
        "kind": kind,
        "ticket": NUMBER,
        "event_id": "77",
        "channel": "wechat",
        "at": AT.isoformat(),
        "data": data,
    }
    return await plan(cast(AsyncSession, None), event, cfg)


@pytest.mark.parametrize("advice", [None, ADVICE])
async def test_passive_ack_is_the_ack_job(advice: EmergencyAdvice | None) -> None:
    cfg = NotifySettings()
    emergency = {"emergency": advice.to_dict()} if advice else {}
    (ack,) = await planned("received", emergency, cfg)
    outcome = Outcome(
        intent="new_request",
        ticket=NUMBER,
        query_code=CODE,
        status="received",
        reply=advice.advice if advice else None,
        **FACTS,
    )
    passive = Replies.load().with_emergency(Replies.load().for_outcome(outcome), advice)
    assert carried_by_reply(outcome) == [ack.key] == [f"ack:{NUMBER}"]
    assert passive == sent_text(ack, Renderer())
    assert f"工单编号：{NUMBER}，查询码：{CODE}" in passive
    assert passive.startswith(ADVICE.advice) is (advice is not None)
    assert ack.at == AT + cfg.passive_ack_grace["wechat"]  # waits for the channel's mark


def test_plain_ack_fits_one_sms() -> None:
    """UCS-2 SMS carry 70 characters; the signature is added by the SMS sender."""
    text = Renderer().render("ack", {"number": NUMBER, "query_code": CODE}).text
    assert len("【12345热线】" + text) <= 70


@pytest.mark.parametrize(
    ("resolution", "job"), [("direct_answer", "closed"), ("declined", "declined")]
)
async def test_an_answer_at_intake_is_its_job(resolution: str, job: str) -> None:
    """Triage's answer at once (knowledge base, or 不予受理 out of scope): the passive reply
    carries the job's key and says what the job would."""
    answer = "社保卡补办请携带身份证到社保服务窗口。"
    data = {"text": answer, "at_intake": True, "resolution": resolution}
    specs = await planned("closed", data, NotifySettings())
    spec = specs[0]
    outcome = Outcome(
        intent="new_request",
        ticket=NUMBER,
        query_code=CODE,
        status="closed",
        reply=answer,
        answered_event="77",
        answered_job=job,
        **FACTS,
    )
    assert spec.key == f"{job}:77" and spec.key in carried_by_reply(outcome)
    assert spec.at == AT + NotifySettings().passive_ack_grace["wechat"]
    assert Replies.load().for_outcome(outcome) == sent_text(spec, Renderer(), channel="wechat")
    if job == "closed":
        assert f"您的咨询已答复（工单编号：{NUMBER}）" in sent_text(spec, Renderer())


async def test_closed_later_keeps_its_words() -> None:
    (closed, survey) = await planned("closed", {"text": "已修复。"}, NotifySettings())
    assert closed.at is None and survey.key == "survey:77"
    assert sent_text(closed, Renderer()).startswith(f"您好，您的工单 {NUMBER} 已办结。")


async def test_one_override_folder_for_replies_and_notifications(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    own = "{{ request_type }}「{{ title }}」工单 {{ number }}（{{ query_code }}），{{ due }} 前办结"
    (tmp_path / "zh" / "ack.j2").write_text(own, "utf-8")
    (tmp_path / "sms_codes.yaml").write_text("ack: {code: OWN_ACK, params: [number]}", "utf-8")
    for given in ({"catalog": {"replies_file": tmp_path}}, {"notify": {"templates_dir": tmp_path}}):
        settings = load_settings(data_dir=tmp_path / "data", **given)
        assert settings.catalog.replies_file == tmp_path
        cfg = load_notify_settings(settings.notify)
        assert cfg.templates_dir == tmp_path
        outcome = Outcome(
            intent="new_request", ticket=NUMBER, query_code=CODE, status="received", **FACTS
        )
        passive = Replies.load(settings.catalog.replies_file).for_outcome(outcome)
        renderer = Renderer(override=cfg.templates_dir)
        (ack,) = await planned("received", {}, cfg)
        assert passive == sent_text(ack, renderer)
        assert passive == f"投诉「路灯坏了」工单 {NUMBER}（{CODE}），2026-03-15 10:00 前办结"
        context = {"number": NUMBER, "query_code": CODE, **FACTS}
        rendered = renderer.render("ack", context)
        assert (rendered.provider_template, rendered.params) == ("OWN_ACK", {"number": NUMBER})
    # what the folder does not override comes from the shipped catalogue
    assert Replies.load(tmp_path).text("status_none").startswith("您目前没有正在办理的诉求")


def test_the_override_settings_must_agree(tmp_path: Path) -> None:
    other = tmp_path / "other"
    with pytest.raises(ConfigurationError, match="differ"):
        load_settings(
            data_dir=tmp_path / "data",
            catalog={"replies_file": tmp_path},
            notify={"templates_dir": str(other)},
        )
    old_file = tmp_path / "replies.yaml"
    old_file.write_text('new_request: "{ticket}"', "utf-8")
    with pytest.raises(ConfigurationError, match="is a file"):
        load_settings(data_dir=tmp_path / "data", catalog={"replies_file": old_file})


def test_every_text_in_both_languages_and_every_sms_code_named() -> None:
    zh = {p.name for p in (SHIPPED / "zh").glob("*.j2")}
    en = {p.name for p in (SHIPPED / "en").glob("*.j2")}
    assert zh == en and {"ack.j2", "closed.j2", "welcome.j2", "status_list.j2"} <= zh
    codes = yaml.safe_load((SHIPPED / "sms_codes.yaml").read_text("utf-8"))
    assert {f"{name}.j2" for name in codes} <= zh
    assert Renderer().render("ack", {"number": NUMBER, "query_code": CODE}).params == {
        "number": NUMBER,
        "query_code": CODE,
    }
