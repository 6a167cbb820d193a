"""The learned half of the emergency check: danger in words no keyword list holds, and the
rules it must never overrule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.triage import Triage
from intake.triage.alarm import Alarm
from intake.triage.engine import LEARNED
from intake.triage.learned.emergency import (
    EmergencyModel,
    load_emergency_model,
    save_emergency_model,
    train_emergency,
)
from intake.triage.learned.files import save_model

# danger told in the citizen's own words: none of them is on a keyword list
UNLISTED = [
    ("我爸刚才在客厅一下子栽倒了，怎么喊都不答应，眼睛往上翻着", "120"),
    ("隔壁老太太倒在厨房门口 喊她没反应 嘴唇乌青", "120"),
    ("我家楼道里一股很冲的烧塑料味 门缝里往外冒白烟", "119"),
    ("小区门口一个小孩被车碾了 司机开车跑了", "122"),
]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


@pytest.fixture(scope="module")
def keywords_only() -> Triage:
    return Triage.load(emergency_model="/nonexistent/emergency-model")


@pytest.mark.parametrize(("text", "number"), UNLISTED)
def test_the_model_reads_danger_no_keyword_names(
    triage: Triage, keywords_only: Triage, text: str, number: str
) -> None:
    assert keywords_only.emergency(text) is None  # the lists alone miss it
    hit = triage.emergency(text)
    assert hit is not None and hit.service == number and hit.rule_id == LEARNED
    assert number in hit.reply  # the same advice text as a keyword finding gives
    decision = triage.assess(text)
    assert decision.emergency == hit and decision.urgent
    trail = [d for d in decision.decisions if d.step == "emergency"]
    assert trail[-1].rule_id == LEARNED and "probability" in (trail[-1].detail or "")


@pytest.mark.parametrize(("text", "number"), UNLISTED)
def test_the_accept_path_gives_the_advice_too(triage: Triage, text: str, number: str) -> None:
    advice = Alarm(triage).check(text)
    assert advice is not None and advice.number == number


@pytest.mark.parametrize(
    "text",
    [
        # a keyword set aside by its context: the model never overrules it
        "昨晚解放路那边出过车祸 一地碎玻璃到现在没人扫 好几辆电动车过去都扎胎了",
        "万一着火了咋办 我们这栋楼就一个楼梯 顶楼的门还锁着",
        "楼下烧烤店天天烟熏火燎的 整栋楼跟着火了一样 窗户都不敢开",
        # asks about money or procedures after the event
        "去年我家厨房着了火，现在保险公司一直不赔，请问该怎么办？",
        "上礼拜被电动车撞了 对方赖着不赔怎么办",
        # a hazard to repair, an idiom
        "北塘区建设路和新河路交叉口有根水管爆了，水一直往外冒，请赶紧派人来关阀门修一下。",
        "气得我快晕倒了 快递到了驿站三天都不送上门 打电话也不接",
        "物业费涨价吓死人，业主群里都炸了，物业说是业委会同意的，这个合法吗",
    ],
)
def test_no_emergency_where_the_message_says_otherwise(triage: Triage, text: str) -> None:
    assert triage.emergency(text) is None
    assert triage.assess(text).emergency is None


def test_a_letter_about_an_old_accident_is_no_emergency(triage: Triage) -> None:
    letter = (
        "父亲被撞后抢救费用谁先垫付。我父亲上周三早上在北塘区运河路过马路的时候被一辆小货车撞了，"
        "颅内出血，在市一院ICU住了六天，现在还没有脱离危险。肇事司机当场没有跑，交警也定了他全责，"
        "但是他说自己没钱，车是挂靠在一家物流公司的，只买了交强险。到现在医院那边已经花了七万多，"
        "每天还要一万左右。我想咨询：交强险能不能先垫付抢救费用，需要走什么程序？"
        "道路交通事故社会救助基金能不能申请，去哪里申请？"
    )
    assert triage.assess(letter).emergency is None


def test_a_model_round_trips_as_data(tmp_path: Path) -> None:
    rows = [
        ("楼下着火了烟很大", "119"),
        ("厨房冒黑烟了快来", "119"),
        ("有人晕倒了叫不醒", "120"),
        ("老人倒地不起没反应", "120"),
        ("小区停水三天了", None),
        ("路灯坏了请修一下", None),
        ("噪音太大睡不着", None),
        ("物业乱收费", None),
    ]
    model = train_emergency(rows, version="t1", threshold=0.3)
    save_emergency_model(model, tmp_path / "m")
    loaded = load_emergency_model(tmp_path / "m")
    assert loaded is not None and loaded.version == "t1" and loaded.threshold == 0.3
    text = "楼下着火了烟很大"
    assert loaded.read(text) == model.read(text)
    assert load_emergency_model(tmp_path / "missing") is None


def test_a_folder_holding_another_model_is_refused(tmp_path: Path) -> None:
    model = train_emergency(
        [("着火了", "119"), ("起火了", "119"), ("停水", None), ("停电", None)], version="t"
    )
    wrong = replace(model.model, category=replace(model.model.category, classes=("noise", "water")))
    save_model(wrong, tmp_path / "m")
    with pytest.raises(ConfigurationError, match="not an emergency model"):
        load_emergency_model(tmp_path / "m")


def test_numbers_outside_the_four_are_refused() -> None:
    with pytest.raises(ValueError, match="110, 119, 120, 122"):
        train_emergency([("着火了", "911"), ("停水", None)], version="t")


def test_shipped_model_is_an_emergency_model() -> None:
    model = load_emergency_model(Triage.load().catalogue.paths.emergency_model)
    assert isinstance(model, EmergencyModel)
    assert 0 < model.threshold < 1
