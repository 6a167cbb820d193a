"""The learned category model: training, storage without pickle, versions, the engine's use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intake.triage import Triage
from intake.triage.learned import ModelSource, ModelStore
from intake.triage.learned.dataset import Row, UnknownLabels, check_labels, merge, read_rows
from intake.triage.learned.files import load_model
from intake.triage.learned.source import SHIPPED
from intake.triage.learned.training import train
from tests.triage.learned_data import CATEGORIES, small_rows, write_csv

LONG_LETTER = (
    "尊敬的领导您好！我是东湖区桂花街道香樟苑小区的住户，家住12楼。从上周三开始，我们这栋楼"
    "每天早上六点到晚上十点都放不出水，水龙头拧开只有细细一股，洗衣机根本转不起来。家里有一个"
    "八十多岁的老人和一个刚满月的孩子，每天只能下楼去车库接水再一桶一桶提上来。问了物业，物业说"
    "是二次供水的水泵坏了一台，已经报给自来水公司了，让我们等。可是已经五天了一点动静都没有。"
    "请问到底是谁负责修？能不能尽快派人把水泵修好，先恢复正常供水？谢谢！"
)


@pytest.fixture(scope="module")
def model_rows() -> list[Row]:
    return small_rows()


def test_training_stores_a_version_loaded_without_pickle(
    tmp_path: Path, model_rows: list[Row]
) -> None:
    store = ModelStore(tmp_path / "models")
    model = train(model_rows, version="20260101-000000")
    folder = store.add(model)
    store.activate(model.version)
    assert store.active() == "20260101-000000" and store.versions() == ["20260101-000000"]
    with np.load(folder / "model.npz", allow_pickle=False) as arrays:
        assert arrays["category_weights"].dtype == np.float32
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.joblib"))
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert meta["version"] == "20260101-000000" and len(meta["training_sha256"]) == 64
    assert set(meta["codes"]) == set(CATEGORIES)
    figures = meta["figures"]
    assert 0 <= figures["category_accuracy"] <= 1 and figures["rows"] > 0
    assert set(figures["per_category"]) >= set(CATEGORIES) and "confusions" in figures
    again = load_model(folder)
    assert again.category_of(LONG_LETTER) == model.category_of(LONG_LETTER) == "water-supply"


def test_unknown_labels_are_refused_with_their_list(model_rows: list[Row]) -> None:
    rows = [*model_rows, Row("停车场收费太贵", "parking"), Row("卡拉OK太吵", "karaoke", "", "x")]
    with pytest.raises(UnknownLabels) as refused:
        check_labels(rows, CATEGORIES)
    assert refused.value.labels == ("karaoke", "parking", "x")


def test_files_csv_and_json_lines_read_alike(tmp_path: Path, model_rows: list[Row]) -> None:
    csv_rows = read_rows(write_csv(tmp_path / "a.csv", model_rows[:5]))
    lines = [
        json.dumps({"text": r.text, "category": r.category, "type": r.request_type})
        for r in model_rows[:5]
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert read_rows(tmp_path / "a.jsonl") == csv_rows == model_rows[:5]


def test_a_correction_replaces_the_older_label(model_rows: list[Row]) -> None:
    first = model_rows[0]
    corrected = Row(first.text, "noise", "", "complaint")
    merged = merge(model_rows, [corrected])
    assert corrected in merged and first not in merged and len(merged) == len(model_rows)


def test_activate_and_rollback_switch_what_a_source_loads(
    tmp_path: Path, model_rows: list[Row]
) -> None:
    store = ModelStore(tmp_path / "models")
    source = ModelSource(store=store, check_seconds=0)
    shipped = source.current()
    assert shipped is not None and shipped.version == load_model(SHIPPED).version
    for version in ("20260101-000001", "20260101-000002"):
        store.add(train(model_rows, version=version))
        store.activate(version)
        current = source.current()
        assert current is not None and current.version == version
    assert store.rollback() == "20260101-000001"
    assert (current := source.current()) is not None and current.version == "20260101-000001"
    assert store.rollback() == "default"
    assert (current := source.current()) is not None and current.version == shipped.version


def test_the_shipped_model_decides_a_long_letter_and_explains_itself() -> None:
    triage = Triage.load(learned=ModelSource.shipped_only())
    decision = triage.assess(LONG_LETTER)
    assert decision.category.label == "water-supply" and decision.category.source == "model"
    assert decision.model_version is not None and decision.category.matched
    assert not decision.needs_human or "category" not in (decision.human_reason or "")
    culture = triage.assess("市图书馆周末的自习室太难预约了，能不能增加一些座位，延长开放时间？")
    assert culture.category.label == "culture-tourism"


def test_low_confidence_leaves_the_category_to_an_agent_with_three_candidates() -> None:
    triage = Triage.load(learned=ModelSource.shipped_only())
    decision = triage.assess("我想反映一下这个事情，麻烦你们看一下，谢谢。")
    category = decision.category
    assert category.source == "unsure" and decision.needs_human
    assert decision.routing.primary == "hotline"
    assert len(category.candidates) == 3
    assert all(c.words for c in category.candidates[:1])
    probabilities = [c.probability for c in category.candidates]
    model = triage.learned.current() if triage.learned else None
    assert model is not None and probabilities[0] < model.info.category_threshold
    assert probabilities == sorted(probabilities, reverse=True)


def test_without_a_model_the_rules_decide() -> None:
    decision = Triage.load().assess(LONG_LETTER)
    assert decision.category.source == "keywords" and decision.model_version is None
