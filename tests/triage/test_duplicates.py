"""Same problem or not: resemblance of texts, nearness of places, the rules file."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.domain.errors import ConfigurationError
from intake.triage import Triage
from intake.triage.duplicates import (
    Place,
    degrees_around,
    distance_m,
    features,
    nearness,
    resemblance,
)
from intake.triage.repeat_rules import FollowUpRules

FUMES = "东湖区幸福路12号楼下的烧烤店每天深夜油烟很大，影响居民休息。"
SAME_PROBLEM = [
    (FUMES, "幸福路12号那家烧烤店油烟太大了，熏得我们家没法开窗，晚上还吵"),
    ("香樟苑小区从早上六点就停水了，也没有通知", "香樟苑停水了，到现在还没来水，什么时候恢复"),
    ("小区门口的路灯坏了好几天，晚上很黑", "我们小区门口路灯不亮了，晚上走路看不见"),
    ("建设路和新河路交叉口水管爆了，水一直往外冒", "新河路建设路路口自来水管爆裂，路面都是水"),
    ("解放路上的窨井盖丢了，很危险", "解放路那个井盖没了，已经有人差点掉进去"),
    ("阳光小区3栋停电了，一直没来电", "阳光小区3栋还是没电，什么时候来电啊"),
]
OTHER_PROBLEM = [
    (FUMES, "东湖区桂花街道的火锅店排烟管对着我家窗户，油烟味很重"),
    ("香樟苑小区从早上六点就停水了，也没有通知", "桂花苑小区水压太小，六楼放不出水"),
    ("小区门口的路灯坏了好几天，晚上很黑", "小区门口的垃圾桶满了好几天没人清理"),
    ("楼上邻居天天半夜跳绳，吵得睡不着", "小区广场舞音响太大声，每天吵到十点"),
    ("阳光小区3栋停电了，一直没来电", "阳光小区5栋电表走得太快了，电费翻倍"),
    ("东湖区幸福路12号烧烤店油烟扰民", "东湖区幸福路18号饭店油烟扰民"),
]


def _score(triage: Triage, a: str, b: str) -> float:
    return resemblance(features(triage, a), features(triage, b))


@pytest.mark.parametrize(("a", "b"), SAME_PROBLEM)
def test_reports_of_one_problem_resemble(triage: Triage, a: str, b: str) -> None:
    assert _score(triage, a, b) >= 0.4
    assert _score(triage, a, b) == _score(triage, b, a)


@pytest.mark.parametrize(("a", "b"), OTHER_PROBLEM)
def test_other_problems_nearby_do_not(triage: Triage, a: str, b: str) -> None:
    assert _score(triage, a, b) < 0.35


def test_house_numbers_and_key_terms(triage: Triage) -> None:
    found = features(triage, "东湖区桂花街道幸福路12号楼下烧烤店油烟扰民")
    assert {"#12", "烧烤店", "油烟", "桂花街道"} <= found.terms
    assert "东湖区" not in found.terms  # every candidate shares the district
    assert found.numbers == frozenset({"#12"})
    assert _score(triage, "烧烤店油烟扰民", "烧烤店油烟扰民") == 1.0
    assert _score(triage, "", "烧烤店油烟扰民") == 0.0


def test_nearness_prefers_coordinates_then_street() -> None:
    a = Place("donghu", "桂花街道", 28.6820, 115.8580)
    assert 95 < distance_m(a, Place(latitude=28.6829, longitude=115.8580)) < 105
    assert nearness(a, Place("donghu", "湖滨街道", 28.6829, 115.8580), radius_m=300) == "point"
    assert nearness(a, Place("donghu", "桂花街道", 28.7020, 115.8580), radius_m=300) is None
    assert (
        nearness(Place("donghu", "桂花街道"), Place("donghu", "桂花街道"), radius_m=1) == "street"
    )
    assert nearness(Place("donghu", "桂花街道"), Place("donghu", "湖滨街道"), radius_m=1) is None
    assert nearness(Place("donghu", "桂花街道"), Place("donghu"), radius_m=1) == "district"
    assert nearness(Place("donghu"), Place("xishan"), radius_m=1) is None
    assert nearness(Place(), Place(), radius_m=1) is None


def test_coordinate_box_holds_the_radius() -> None:
    dlat, dlon = degrees_around(28.68, 300)
    centre = Place(latitude=28.68, longitude=115.85)
    assert distance_m(centre, Place(latitude=28.68 + dlat, longitude=115.85)) == pytest.approx(300)
    assert distance_m(centre, Place(latitude=28.68, longitude=115.85 + dlon)) >= 299


def test_shipped_rules_and_not_helpful_words() -> None:
    rules = FollowUpRules.load()
    assert rules.repeats.supervise_after == 3 and rules.repeats.window.days == 7
    assert rules.duplicates.request_types == {"help", "complaint", "report"}
    verdict = rules.not_helpful.matches
    assert verdict("没用") == "没用" and verdict("没有帮助！") == "没有帮助"
    assert verdict("转人工") == "转人工" and verdict("未解决。") == "未解决"
    assert verdict("") is None and verdict("好的，谢谢") is None
    assert verdict("不行的话我再换个问题问问：居住证怎么办理需要什么材料？") is None


@pytest.mark.parametrize(
    ("section", "line", "bad"),
    [
        ("duplicates", "request_types:", "  request_types: [gossip]\n"),
        ("repeats", "min_similarity:", "  min_similarity: 1.5\n"),
        ("repeats", "window_days:", "  window_days: 0\n"),
        ("not_helpful", "words:", "  words: []\n"),
    ],
)
def test_a_bad_rules_file_is_refused(tmp_path: Path, section: str, line: str, bad: str) -> None:
    shipped = (Path(__file__).parents[2] / "intake/triage/data/repeats.yaml").read_text("utf-8")
    lines, current, out = shipped.splitlines(keepends=True), None, []
    skipping = False
    for text in lines:
        if text and not text[0].isspace() and text.rstrip().endswith(":"):
            current = text.strip().rstrip(":")
        if skipping and text.startswith("    "):
            continue  # continuation lines of the replaced entry
        skipping = False
        if current == section and text.strip().startswith(line):
            out.append(bad)
            skipping = True
            continue
        out.append(text)
    edited = tmp_path / "repeats.yaml"
    edited.write_text("".join(out), encoding="utf-8")
    with pytest.raises(ConfigurationError):
        FollowUpRules.load(edited)
