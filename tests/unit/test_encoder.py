"""The transformer classifier through the production loader (a tiny BERT built at test time)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.encoder import EncoderModel, head_tail
from classifier.errors import ModelError
from classifier.registry import load_model
from classifier.types import LABELS, Note


def test_encoder_loads_and_predicts(tiny_encoder_dir: Path) -> None:
    model = load_model(tiny_encoder_dir)
    assert isinstance(model, EncoderModel)
    notes = [Note(id="a", text="周末去了家楼下新开的面馆"), Note(id="b", title="广告", text="加薇信"),
             Note(id="c", text="短")]
    p = model.predict_proba(notes)
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert model.version == "tiny-encoder@t1"


def test_encoder_batching_and_order_do_not_change_scores(tiny_encoder_dir: Path) -> None:
    model = EncoderModel.load(tiny_encoder_dir)
    texts = ["周末去了家楼下新开的面馆，汤头很鲜", "加薇信", "本篇为品牌合作，感谢品牌邀请试用新款面霜" * 3]
    model.batch_size = 1
    one = model.predict_proba_texts(texts)
    model.batch_size = 8
    many = model.predict_proba_texts(texts)
    reversed_ = model.predict_proba_texts(texts[::-1])[::-1]
    assert np.allclose(one, many, atol=1e-5) and np.allclose(one, reversed_, atol=1e-5)


def test_encoder_long_text_keeps_head_and_tail(tiny_encoder_dir: Path) -> None:
    model = EncoderModel.load(tiny_encoder_dir)
    ids = model.encode(["面" * 500])[0]
    assert len(ids) == model.max_length
    assert ids[0] == model.tokenizer.cls_token_id and ids[-1] == model.tokenizer.sep_token_id


@pytest.mark.parametrize(("n", "budget", "expected"), [(5, 10, 5), (20, 10, 10), (20, 1, 1)])
def test_encoder_head_tail_budget(n: int, budget: int, expected: int) -> None:
    ids = list(range(n))
    out = head_tail(ids, budget, 0.7)
    assert len(out) == expected
    assert out[0] == 0
    if n > budget > 1:
        assert out[-1] == n - 1


def test_encoder_refuses_wrong_labels(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_encoder_dir, bad)
    cfg = json.loads((bad / "config.json").read_text("utf-8"))
    cfg["id2label"] = {"0": "a", "1": "b", "2": "c"}
    (bad / "config.json").write_text(json.dumps(cfg), "utf-8")
    with pytest.raises(ModelError, match="id2label"):
        EncoderModel.load(bad)


def test_encoder_refuses_missing_weights(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_encoder_dir, bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="model.safetensors"):
        load_model(bad)


def test_model_folder_without_marker_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="notecheck.json"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope")
    assert LABELS == ("sharing", "undisclosed_ad", "declared")
