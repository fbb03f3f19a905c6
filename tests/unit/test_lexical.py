"""The lexical model: fit, score, save/load without pickle, parity with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifier.errors import ModelError, NotFittedError
from classifier.lexical import LexicalModel, features
from classifier.registry import load_model
from classifier.types import LABELS
from tests.conftest import TOY_NOTES, toy_note


def test_lexical_predict_proba_shape_and_order(lexical_dir: Path) -> None:
    model = load_model(lexical_dir)
    notes = [toy_note(t, i) for i, (t, _) in enumerate(TOY_NOTES)]
    p = model.predict_proba(notes)
    assert p.shape == (len(notes), 3)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert model.classes_ == LABELS
    # fitted on these very notes: it must recover most of their labels
    predicted = [LABELS[i] for i in p.argmax(axis=1)]
    assert sum(a == b for a, b in zip(predicted, [lab for _, lab in TOY_NOTES], strict=True)) >= 8


def test_lexical_transform_matches_sklearn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [t for t, _ in TOY_NOTES]
    model = LexicalModel(min_df=1).fit(texts, [lab for _, lab in TOY_NOTES])
    ref = TfidfVectorizer(analyzer=lambda t: features(t, 2), min_df=1, sublinear_tf=True).fit(texts)
    ours = model.transform(texts).toarray()
    theirs = ref.transform(texts).toarray()[:, [ref.vocabulary_[t] for t in sorted(model.vocabulary_,
                                                                                     key=model.vocabulary_.get)]]
    assert np.allclose(ours, theirs, atol=1e-9)


def test_lexical_save_load_round_trip(lexical_dir: Path, tmp_path: Path) -> None:
    model = LexicalModel.load(lexical_dir)
    model.save(tmp_path / "again")
    again = LexicalModel.load(tmp_path / "again")
    texts = ["加薇信领券", "自费买的，一般般"]
    assert np.allclose(model.predict_proba_texts(texts), again.predict_proba_texts(texts))
    assert not list(lexical_dir.glob("*.pkl"))


def test_lexical_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        LexicalModel().predict_proba_texts(["x"])
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def test_lexical_fit_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="unknown labels"):
        LexicalModel(min_df=1).fit(["a", "b"], ["sharing", "spam"])


def test_lexical_load_refuses_incomplete_folder(lexical_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "notecheck.json").write_text((lexical_dir / "notecheck.json").read_text("utf-8"), "utf-8")
    with pytest.raises(ModelError, match="missing"):
        LexicalModel.load(broken)
