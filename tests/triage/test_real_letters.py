"""Decisions that act alone hold on real-length letters.

Table-driven over tests/fixtures/triage/real_letters.yaml: each letter says which flags it
must (or must not) raise. The letters include the failures seen on real citizens' letters:
a wrong knowledge-base close, emergencies read from the past, a history, a comparison or a
substring, passing mentions of 信访/纪委/起诉/仲裁, and thanks taken for praise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.triage import Triage, TriageDecision
from intake.triage.text import normalise

LETTERS_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "triage" / "real_letters.yaml"
LETTERS: list[dict[str, Any]] = yaml.safe_load(LETTERS_FILE.read_text(encoding="utf-8"))["letters"]


def _flags(decision: TriageDecision) -> dict[str, Any]:
    suggestion = decision.out_of_scope_suggestion
    return {
        "emergency": decision.emergency.rule_id if decision.emergency else None,
        "out_of_scope": decision.out_of_scope.rule_id if decision.out_of_scope else None,
        "out_of_scope_suggestion": suggestion.rule_id if suggestion else None,
        "kb_close": decision.kb_answer.entry_id if decision.kb_answer else None,
        "type": decision.request_type.label,
    }


@pytest.mark.parametrize("letter", LETTERS, ids=[letter["id"] for letter in LETTERS])
def test_letter_gets_the_expected_flags(triage: Triage, letter: dict[str, Any]) -> None:
    decision = triage.assess(letter["text"])
    flags, trail = _flags(decision), [d.to_dict() for d in decision.decisions]
    for key, want in letter["expect"].items():
        if key == "suggested":
            offered = [answer.entry_id for answer in decision.suggested_answers]
            assert set(want) <= set(offered), (offered, trail)
        elif key == "not_type":
            assert flags["type"] != want, trail
        else:
            assert flags[key] == want, (key, trail)


def test_the_fixture_is_real_length_and_covers_every_flag() -> None:
    ids = [letter["id"] for letter in LETTERS]
    assert len(ids) == len(set(ids)) >= 30
    lengths = [len(normalise(letter["text"])) for letter in LETTERS]
    assert sum(n >= 150 for n in lengths) >= 25 and max(lengths) <= 800
    expected = [letter["expect"] for letter in LETTERS]
    for flag in ("emergency", "out_of_scope", "kb_close"):
        assert any(e.get(flag) for e in expected), f"no positive for {flag}"
        assert sum(flag in e and e[flag] is None for e in expected) >= 4, f"few negatives: {flag}"


def test_long_letter_is_never_closed_but_answers_are_suggested(triage: Triage) -> None:
    letter = next(x for x in LETTERS if x["id"] == "housing-fund-letter-suggests-only")
    decision = triage.assess(letter["text"], request_type_hint="consultation")
    assert decision.kb_answer is None and not decision.direct_answer
    assert decision.immediate_reply is None
    assert decision.needs_human and decision.human_reason
    suggested = decision.suggested_answers[0]
    assert suggested.entry_id == "hf-withdraw-rent" and "租房" in suggested.answer
    kb = next(d for d in decision.decisions if d.step == "kb")
    assert kb.outcome == "suggested" and kb.detail and "letter" in kb.detail


def test_the_same_question_asked_briefly_is_closed(triage: Triage) -> None:
    decision = triage.assess("请问没有备案合同，租房提取公积金需要什么材料？")
    assert decision.kb_answer is not None and decision.kb_answer.entry_id == "hf-withdraw-rent"
    assert decision.direct_answer and decision.suggested_answers == ()


def test_entry_must_answer_the_question_sentence(triage: Triage) -> None:
    """The words of the entry are in the message, but the question asks something else."""
    text = "我的社保卡丢了，已经补办好了。请问医院的停车场为什么这么贵？"
    decision = triage.assess(text)
    assert decision.kb_answer is None
    kb = next(d for d in decision.decisions if d.step == "kb")
    assert kb.rule_id == "sscard-replace" and kb.detail == (
        "the entry does not answer the question asked"
    )


def test_close_needs_a_margin_over_the_runner_up(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yaml"
    kb.write_text(
        "threshold: 0.5\nmargin: 0.15\nentries:\n"
        "  - {id: dog-licence, answer: 狗证答案, keywords: [[狗证], [办理, 办]]}\n"
        "  - {id: dog-fee, answer: 收费答案, keywords: [[狗证], [办理, 多少钱]]}\n",
        encoding="utf-8",
    )
    decision = Triage.load(kb=kb).assess("请问狗证在哪里办理？")
    assert decision.kb_answer is None
    assert {a.entry_id for a in decision.suggested_answers} == {"dog-licence", "dog-fee"}
    kb_step = next(d for d in decision.decisions if d.step == "kb")
    assert kb_step.detail and kb_step.detail.startswith("too close to")


NOT_NOW = [
    ("去年出过车祸，现在想问下事故认定书怎么补", "车祸"),
    ("我爸有心脏病史，以前昏迷过两次，想问问慢病怎么报销", "昏迷"),
    ("这样收停车费跟绑架勒索有什么区别？", "绑架"),
    ("你们有没有意识到这个路口有多危险？", "没有意识"),
    ("还好没有着火，但是电线老化很严重，请来检查", "着火"),
    ("要是真的着火了，这么窄的楼道谁都跑不掉", "着火了"),
    ("他说“着火了也不归我们管”，这是什么态度", "着火了"),
    ("这种收费简直就是抢劫", "抢劫"),
]


@pytest.mark.parametrize(("text", "word"), NOT_NOW)
def test_emergency_words_that_are_not_danger_now(triage: Triage, text: str, word: str) -> None:
    decision = triage.assess(text)
    assert decision.emergency is None
    assert not decision.urgent or "urgency-keywords" in {d.rule_id for d in decision.decisions}


def test_set_aside_emergency_words_are_explained(triage: Triage) -> None:
    decision = triage.assess("我父亲去年出过车祸，腿一直不好")
    step = next(d for d in decision.decisions if d.step == "emergency")
    assert step.outcome == "set-aside" and step.detail == "车祸: past"


def test_fire_now_after_a_past_one_in_the_same_letter_is_caught(triage: Triage) -> None:
    text = (
        "我们小区去年就着火了一次，当时物业说会整改，可到现在楼道里还是堆满了杂物。"
        "现在5号楼又着火了，烟很大，快派消防车来！"
    )
    decision = triage.assess(text)
    assert decision.emergency is not None and decision.emergency.service == "119"
    assert "119" in (decision.immediate_reply or "")


def test_out_of_scope_unsure_goes_to_an_agent_with_the_suggestion(triage: Triage) -> None:
    text = (
        "您好，我在东湖区一家餐馆打工，老板拖欠了我三个月工资一万二千元。"
        "我找过劳动监察大队，他们让我去申请仲裁，仲裁委受理以后一直没有开庭。"
        "我家里老人生病住院，急需这笔钱，房租也拖了两个月。"
        "请问像我这种情况，除了等仲裁委开庭，还有没有别的办法能尽快拿到工资？"
        "希望你们帮忙协调一下劳动部门，督促老板先把工资发了，谢谢。"
    )
    decision = triage.assess(text)
    assert decision.out_of_scope is None and decision.immediate_reply is None
    assert decision.out_of_scope_suggestion is not None
    assert decision.out_of_scope_suggestion.rule_id == "arbitration"
    assert decision.needs_human and "out of scope" in (decision.human_reason or "")
