"""The ensemble model: blend arithmetic, save/load through the production loader, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifier.ensemble import EnsembleModel
from classifier.errors import ModelError
from classifier.lexical import LexicalModel
from classifier.registry import load_model
from classifier.types import Note


@pytest.fixture()
def ensemble_dir(tmp_path: Path, lexical_dir: Path, tiny_encoder_dir: Path) -> Path:
    out = tmp_path / "ens"
    out.mkdir()
    shutil.copytree(lexical_dir, out / "lexical")
    shutil.copytree(tiny_encoder_dir, out / "encoder")
    model = EnsembleModel([load_model(out / "encoder"), load_model(out / "lexical")], [0.5, 0.5],
                          names=["encoder", "lexical"], name="toy-ens", model_version="t1")
    model.temperature_ = 0.8
    model.write_config(out)
    return out


def test_ensemble_is_the_geometric_blend(ensemble_dir: Path) -> None:
    model = load_model(ensemble_dir)
    assert isinstance(model, EnsembleModel) and model.version == "toy-ens@t1"
    texts = ["加薇信领券，到手价99", "周末去公园野餐", "本篇为品牌合作"]
    p_enc = model.member("encoder").predict_proba_texts(texts)
    p_lex = model.member("lexical").predict_proba_texts(texts)
    z = (0.5 * np.log(p_enc) + 0.5 * np.log(p_lex)) / 0.8
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(model.predict_proba_texts(texts), expected, atol=1e-9)
    assert model.predict_proba([Note(id="a", text=texts[0])]).shape == (1, 3)


def test_ensemble_single_member_equals_member(lexical_dir: Path) -> None:
    lex = LexicalModel.load(lexical_dir)
    ens = EnsembleModel([lex], [1.0], names=["lexical"])
    texts = ["加薇信领券", "好吃"]
    assert np.allclose(ens.predict_proba_texts(texts), lex.predict_proba_texts(texts))


@pytest.mark.parametrize("members", [[], [{"path": "../elsewhere", "weight": 1}], [{"path": "missing", "weight": 1}]])
def test_ensemble_refuses_bad_members(ensemble_dir: Path, members: list[dict[str, object]]) -> None:
    cfg = json.loads((ensemble_dir / "notecheck.json").read_text("utf-8"))
    cfg["members"] = members
    (ensemble_dir / "notecheck.json").write_text(json.dumps(cfg), "utf-8")
    with pytest.raises(ModelError):
        load_model(ensemble_dir)
