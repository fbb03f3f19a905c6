"""Training data assembly: labelled files, CHASM mapping, splits, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier.errors import InputError
from classifier.types import LABELS, Note
from tests.conftest import write_jsonl
from training.data import Example, dedupe, load_labelled, make_splits
from training.evaluate import Scored, expected_calibration_error, metrics, pr_curve


def test_training_data_labelled_file_and_chasm(tmp_path: Path) -> None:
    canonical = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "a1", "text": "好用", "label": "sharing", "writer": "w9", "vertical": "food"},
        {"id": "a2", "text": "加薇信", "label": "undisclosed_ad", "hard_case": "obfuscated_diversion"},
    ])
    chasm = write_jsonl(tmp_path / "c.jsonl", [
        {"title": "分享", "description": "今天的晚饭", "comments": ["好吃吗"], "label": 0},
        {"title": "好物", "description": "私我拿链接", "comments": [], "label": 1},
    ])
    xs = load_labelled(canonical) + load_labelled(chasm)
    assert [x.label for x in xs] == ["sharing", "undisclosed_ad", "sharing", "undisclosed_ad"]
    assert xs[0].writer == "w9" and xs[0].group == "food"
    assert "好吃吗" in xs[2].note.text and xs[2].note.title == "分享"


def test_training_data_bad_label_names_row(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"id": "1", "text": "x", "label": "sharing"},
                                                  {"id": "2", "text": "y", "label": "spam"}])
    with pytest.raises(InputError) as err:
        load_labelled(path)
    assert err.value.row == 2 and err.value.field == "label"


def ex(i: int, label: str, writer: str = "w1", source: str = "file:x") -> Example:
    return Example(Note(id=str(i), text=f"note number {i}"), label, source, writer=writer)


def test_training_data_splits_hold_out_writers_and_are_deterministic() -> None:
    xs = [ex(i, LABELS[i % 3], writer=f"w{i % 4}") for i in range(400)]
    proxies = {"reviews": [ex(1000 + i, "sharing", source="proxy:r") for i in range(100)],
               "heldout_reviews": [ex(5000 + i, "sharing", source="proxy:h") for i in range(10)]}
    a = make_splits(xs, proxies, test_writers=["w3"])
    b = make_splits(xs, proxies, test_writers=["w3"])
    assert [x.note.id for x in a.train] == [x.note.id for x in b.train]
    assert {x.writer for x in a.test if x.source == "file:x"} == {"w3"}
    assert not any(x.writer == "w3" for x in a.train + a.val)
    assert len(a.heldout_reviews) == 10 and not any(x.source == "proxy:h" for x in a.train + a.val + a.test)
    assert 0 < sum(x.source == "proxy:r" for x in a.test) < 40
    assert len(a.train) + len(a.val) + len(a.test) == 500


def test_training_data_dedupe_ignores_whitespace() -> None:
    xs = [Example(Note(id="1", text="a b"), "sharing", "s"), Example(Note(id="2", text="ab"), "sharing", "s")]
    assert [x.note.id for x in dedupe(xs)] == ["1"]


def test_training_data_flag_only_declared_teaches_text_model_commercial() -> None:
    x = Example(Note(id="1", text="好物", sponsor_flag=True), "declared", "s", hard_case="flag_only")
    assert x.text_label == "undisclosed_ad" and x.label == "declared"


def test_evaluate_metrics_known_values() -> None:
    truth = ["sharing", "sharing", "undisclosed_ad", "declared"]
    pred = ["sharing", "undisclosed_ad", "undisclosed_ad", "declared"]
    proba = np.array([[0.9, 0.05, 0.05], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    m = metrics(Scored(truth, pred, proba))
    assert m["per_class"]["sharing"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert m["per_class"]["undisclosed_ad"]["precision"] == 0.5
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_evaluate_calibration_and_pr_auc() -> None:
    proba = np.array([[1.0, 0.0, 0.0]] * 4)
    assert expected_calibration_error(proba, ["sharing"] * 4) == pytest.approx(0.0)
    assert expected_calibration_error(proba, ["sharing", "sharing", "declared", "declared"]) == pytest.approx(0.5)
    _, _, ap = pr_curve(np.array([0.9, 0.8, 0.1]), np.array([True, True, False]))
    assert ap == pytest.approx(1.0)
    _, _, ap = pr_curve(np.array([0.9, 0.8, 0.1]), np.array([False, True, True]))
    assert ap == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_training_data_latest_feedback_correction_wins(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feedback.jsonl", [
        {"id": "n1", "text": "加薇信", "label": "sharing", "at": "2026-11-01T10:00:00Z"},
        {"id": "n2", "text": "好吃", "label": "sharing", "at": "2026-11-01T10:00:00Z"},
        {"id": "n1", "text": "加薇信", "label": "undisclosed_ad", "at": "2026-11-02T10:00:00Z"},
    ])
    xs = load_labelled(path)
    assert [(x.note.id, x.label) for x in xs] == [("n2", "sharing"), ("n1", "undisclosed_ad")]
