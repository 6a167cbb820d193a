from __future__ import annotations

import pytest

from intake.triage import Triage

EMERGENCIES = [
    ("快来人啊，我们楼下的饭店着火了，烟特别大", "fire", "119"),
    ("厨房里闻到很浓的煤气味，我不敢开灯", "gas-leak", "119"),
    ("小区门口有人持刀抢劫，现在还在那里", "crime", "110"),
    ("我爸突然晕倒了，叫不醒，怎么办", "medical", "120"),
    ("解放路上两辆车追尾了，有人受伤", "traffic-accident", "122"),
    ("有人被困在电梯里了，已经半个小时了", "rescue", "119"),
]

NOT_EMERGENCIES = [
    "我们楼道里堆满杂物，存在火灾隐患，请消防部门检查",
    "家里燃气灶打不着火了，想请师傅上门看看",
    "去年出过车祸，现在想问下事故认定书怎么补",
    "消防栓没水，万一着火了怎么办？",
    "请问120急救车收费标准是多少？",
]

OUT_OF_SCOPE = [
    ("法院判决已经生效了，对方一直不执行，我要投诉法院", "litigation"),
    ("我对劳动仲裁的仲裁裁决不服，想让你们重新处理", "arbitration"),
    ("举报我们镇的一个干部贪污受贿", "discipline-inspection"),
    ("我要对区市场监管局的行政处罚申请行政复议", "administrative-reconsideration"),
    ("我想依申请公开我们村的征地补偿文件", "information-disclosure"),
    ("这个问题我已经去信访局上访过了，还没结果", "petition"),
]


@pytest.mark.parametrize(("text", "rule", "number"), EMERGENCIES)
def test_emergency_redirects_to_the_right_number(
    triage: Triage, text: str, rule: str, number: str
) -> None:
    decision = triage.assess(text)
    assert decision.emergency is not None
    assert decision.emergency.rule_id == rule
    assert decision.emergency.service == number
    assert number in decision.emergency.reply
    assert decision.urgent and decision.needs_human
    assert decision.immediate_reply == decision.emergency.reply
    assert decision.kb_answer is None
    step = next(d for d in decision.decisions if d.step == "emergency")
    assert step.rule_id == rule and step.matched


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_hazards_questions_and_past_events_are_not_emergencies(triage: Triage, text: str) -> None:
    assert triage.assess(text).emergency is None


@pytest.mark.parametrize(("text", "rule"), OUT_OF_SCOPE)
def test_out_of_scope_gets_polite_reply_saying_where_to_go(
    triage: Triage, text: str, rule: str
) -> None:
    decision = triage.assess(text)
    assert decision.out_of_scope is not None
    assert decision.out_of_scope.rule_id == rule
    assert "您好" in decision.out_of_scope.reply and "请" in decision.out_of_scope.reply
    assert decision.kb_answer is None
    assert decision.immediate_reply == decision.out_of_scope.reply


def test_ordinary_request_is_neither_emergency_nor_out_of_scope(triage: Triage) -> None:
    decision = triage.assess("请问公积金提取需要什么材料？")
    assert decision.emergency is None and decision.out_of_scope is None and not decision.urgent
