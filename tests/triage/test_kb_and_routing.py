from __future__ import annotations

from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.triage import Triage

KB_CASES = [
    ("我的社保卡不小心弄丢了，要怎么补办？", "sscard-replace"),
    ("请问租房可以提取住房公积金吗，需要什么条件？", "hf-withdraw-rent"),
    ("外地人在临江怎么办理居住证？", "residence-permit"),
    ("我想办个体工商户营业执照，在网上能申请吗？", "business-licence"),
    ("在外地住院了，回来怎么医保报销？", "mi-remote"),
    ("宝宝刚出生，上户口需要准备什么？", "newborn-hukou"),
    ("驾驶证下个月到期，换证怎么办理？", "driving-licence-renew"),
]


@pytest.mark.parametrize(("text", "entry_id"), KB_CASES)
def test_consultation_matching_an_entry_gets_direct_answer(
    triage: Triage, text: str, entry_id: str
) -> None:
    decision = triage.assess(text)
    assert decision.request_type.label == "consultation"
    assert decision.kb_answer is not None, decision.decisions
    assert decision.kb_answer.entry_id == entry_id
    assert decision.kb_answer.score >= triage.kb.threshold
    assert decision.direct_answer and decision.immediate_reply == decision.kb_answer.answer


def test_partial_match_is_below_threshold_and_goes_to_an_agent(triage: Triage) -> None:
    decision = triage.assess("请问社保卡上的照片拍得不好看可以重新拍吗？")
    assert decision.kb_answer is None
    kb_steps = [d for d in decision.decisions if d.step == "kb"]
    assert kb_steps and kb_steps[0].outcome == "below-threshold"


def test_complaint_never_gets_a_kb_answer(triage: Triage) -> None:
    decision = triage.assess("投诉社保中心窗口态度很差，补办社保卡跑了三趟都没办成")
    assert decision.request_type.label == "complaint"
    assert decision.kb_answer is None


ROUTES = [
    ("东湖区桂花街道香樟苑小区停水一整天了，请尽快恢复供水", "water", "donghu", "桂花街道"),
    ("软件园街道那边的工地半夜打桩，噪音太大了", "environment", "gaoxin", "软件园街道"),
    ("青山县城关镇菜市场门口占道经营很严重", "urban-management", "qingshan", "城关镇"),
    ("临江高新区有家公司拖欠工资三个月", "hrss", "gaoxin", None),
]


@pytest.mark.parametrize(("text", "department", "district", "street"), ROUTES)
def test_routing_by_category_and_place_named_in_text(
    triage: Triage, text: str, department: str, district: str, street: str | None
) -> None:
    routing = triage.assess(text).routing
    assert routing.primary == department
    assert routing.district == district
    assert routing.street == street
    assert routing.place_source == "text"
    assert routing.local_office == f"office-{district}"


def test_location_label_is_used_when_text_names_no_place(triage: Triage) -> None:
    decision = triage.assess("楼下烧烤店油烟太大了", location_label="临江市北塘区新河街道建设路8号")
    assert decision.routing.primary == "urban-management"
    assert decision.routing.co_handlers == ("environment",)
    assert decision.routing.district == "beitang"
    assert decision.routing.place_source == "location_label"


def test_text_place_wins_over_location_label(triage: Triage) -> None:
    decision = triage.assess("西山区龙泉街道有个井盖丢了", location_label="东湖区湖滨街道")
    assert decision.routing.district == "xishan"


def test_unknown_matter_goes_to_hotline_queue_and_a_human(triage: Triage) -> None:
    decision = triage.assess("你好，我有个事情想反映一下")
    assert decision.category.label == "other"
    assert decision.routing.primary == "hotline"
    assert decision.needs_human and decision.human_reason


def test_request_type_hint_from_web_form_wins(triage: Triage) -> None:
    decision = triage.assess("小区门口的路灯坏了", request_type_hint="suggestion")
    assert decision.request_type.label == "suggestion"
    assert decision.request_type.source == "hint"


def test_every_decision_has_a_reason_trail(triage: Triage) -> None:
    decision = triage.assess("举报西山区石门镇有人往河里偷排污水")
    steps = {d.step: d for d in decision.decisions}
    assert {"category", "request_type", "routing"} <= set(steps)
    assert steps["category"].rule_id == "category:environment-pollution"
    assert "偷排" in steps["category"].matched
    assert "举报" in steps["request_type"].matched
    assert steps["routing"].outcome == "environment @ xishan"
    assert all(isinstance(d.to_dict()["matched"], list) for d in decision.decisions)


def test_catalogue_files_can_be_overridden(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yaml"
    kb.write_text(
        "threshold: 0.5\nentries:\n  - id: test-entry\n    answer: 测试答案\n"
        "    keywords: [[狗证], [办理, 办]]\n",
        encoding="utf-8",
    )
    triage = Triage.load(kb=kb)
    decision = triage.assess("请问狗证在哪里办理？")
    assert decision.kb_answer is not None and decision.kb_answer.entry_id == "test-entry"


def test_bad_department_code_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "categories.yaml"
    bad.write_text(
        "categories:\n  - {code: x, name: X, department: no-such-unit, keywords: {a: 1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="no-such-unit"):
        Triage.load(categories=bad)
