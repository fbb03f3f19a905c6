"""The cascade: confident notes stay with the first model, the rest go to the second."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from classifier.cascade import CascadeModel, confident, thresholds_of
from classifier.errors import ModelError
from classifier.model import Classifier
from classifier.registry import load_model
from classifier.types import LABELS, Note

FloatArray = np.ndarray


class Scripted:
    """A text model answering fixed rows per text, recording every call."""

    def __init__(self, rows: dict[str, Sequence[float]], version: str) -> None:
        self.rows = rows
        self._version = version
        self.calls: list[list[str]] = []

    @property
    def version(self) -> str:
        return self._version

    def predict_proba_texts(self, texts: Sequence[str]) -> FloatArray:
        self.calls.append(list(texts))
        return np.array([self.rows[t] for t in texts], dtype=np.float64).reshape(-1, len(LABELS))


FIRST = {
    "sure-sharing": (0.97, 0.02, 0.01),
    "sure-declared": (0.01, 0.04, 0.95),
    "unsure": (0.5, 0.4, 0.1),
    "borderline": (0.2, 0.79, 0.01),
}
SECOND = {t: (0.1, 0.1, 0.8) for t in FIRST}


def models() -> tuple[Scripted, Scripted]:
    return Scripted(FIRST, "lex@1"), Scripted(SECOND, "enc@2")


def test_cascade_routes_confident_notes_to_the_first_model_only() -> None:
    first, second = models()
    cascade = CascadeModel(first, second, tau=0.9)
    texts = ["sure-sharing", "unsure", "sure-declared", "borderline"]
    p = cascade.predict_proba_texts(texts)
    assert first.calls == [texts]
    assert second.calls == [["unsure", "borderline"]]  # only the uncertain ones, in input order
    np.testing.assert_array_equal(p[0], FIRST["sure-sharing"])
    np.testing.assert_array_equal(p[2], FIRST["sure-declared"])
    np.testing.assert_array_equal(p[1], SECOND["unsure"])
    np.testing.assert_array_equal(p[3], SECOND["borderline"])
    assert cascade.routed_ == {"first": 2, "second": 2}


def test_cascade_never_calls_the_second_model_when_all_are_confident() -> None:
    first, second = models()
    p = CascadeModel(first, second, tau=0.9).predict_proba_texts(["sure-sharing", "sure-declared"])
    assert second.calls == [] and p.shape == (2, 3)


def test_cascade_tau_one_reproduces_the_second_model_exactly(lexical_dir: Path, tiny_encoder_dir: Path) -> None:
    from classifier.encoder import EncoderModel
    from classifier.lexical import LexicalModel
    from tests.conftest import TOY_NOTES

    notes = [Note(id=f"n{i}", text=t) for i, (t, _) in enumerate(TOY_NOTES)]
    lexical = LexicalModel.load(lexical_dir)
    encoder = EncoderModel.load(tiny_encoder_dir)
    assert (lexical.predict_proba(notes).max(axis=1) > 0.34).all()  # the first model has opinions
    cascade = CascadeModel(lexical, encoder, tau=1.0)
    np.testing.assert_array_equal(cascade.predict_proba(notes), encoder.predict_proba(notes))
    assert cascade.routed_ == {"first": 0, "second": len(notes)}


def test_cascade_per_label_thresholds() -> None:
    first, second = models()
    tau = {"sharing": 0.99, "undisclosed_ad": 0.7, "declared": 0.9}
    cascade = CascadeModel(first, second, tau=tau)
    cascade.predict_proba_texts(list(FIRST))
    assert second.calls == [["sure-sharing", "unsure"]]
    assert cascade.version == "enc@2+cascade(lex@1,tau=0.99/0.7/0.9)"


def test_cascade_is_a_classifier_naming_both_models() -> None:
    first, second = models()
    cascade = CascadeModel(first, second, tau=0.9)
    assert isinstance(cascade, Classifier)
    assert cascade.classes_ == LABELS
    assert cascade.version == "enc@2+cascade(lex@1,tau=0.9)"
    assert cascade.predict_proba_texts([]).shape == (0, 3) and first.calls == []


@pytest.mark.parametrize("tau", [0.0, -0.5, 1.5, float("nan"), {"sharing": 0.9}, {**dict.fromkeys(LABELS, 0.9), "x": 1.0}])
def test_cascade_rejects_bad_thresholds(tau: object) -> None:
    with pytest.raises(ValueError, match="cascade tau"):
        thresholds_of(tau)  # type: ignore[arg-type]


def test_cascade_confident_edge_cases() -> None:
    p = np.array([[0.9, 0.05, 0.05], [1.0, 0.0, 0.0]])
    assert confident(p, thresholds_of(0.9)).tolist() == [True, True]
    assert confident(p, thresholds_of(1.0)).tolist() == [False, False]
    assert confident(np.zeros((0, 3)), thresholds_of(0.5)).shape == (0,)


# -- configuration in the model folder ---------------------------------------------------------------

def _with_cascade(src: Path, dst: Path, spec: object) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "notecheck.json").read_text("utf-8"))
    cfg["cascade"] = spec
    (dst / "notecheck.json").write_text(json.dumps(cfg), "utf-8")
    return dst


def test_cascade_from_config_loads_the_first_model(lexical_dir: Path, tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from classifier.encoder import EncoderModel

    shutil.copytree(lexical_dir, tmp_path / "lexical")
    folder = _with_cascade(tiny_encoder_dir, tmp_path / "enc",
                           {"first": "../lexical", "first_version": "toy-lexical@t1", "tau": 0.8})
    second = EncoderModel.load(folder)
    spec = json.loads((folder / "notecheck.json").read_text("utf-8"))["cascade"]
    model = CascadeModel.from_config(folder, spec, second, load_first=load_model)
    assert isinstance(model, CascadeModel)
    assert model.version == "tiny-encoder@t1+cascade(toy-lexical@t1,tau=0.8)"
    assert model.predict_proba([Note(id="a", text="广告｜恰饭啦")]).shape == (1, 3)


def test_cascade_from_config_is_off_when_the_first_model_changed(
    lexical_dir: Path, tiny_encoder_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, second = models()
    spec = {"first": str(lexical_dir), "first_version": "toy-lexical@t0", "tau": 0.8}
    with caplog.at_level("WARNING", logger="notecheck.cascade"):
        assert CascadeModel.from_config(tiny_encoder_dir, spec, second, load_first=load_model) is second
    assert "re-tuned" in caplog.text


@pytest.mark.parametrize("spec", [0.9, {"tau": 0.9}, {"first": "x"}, {"first": "missing", "tau": 0.9},
                                  {"first": ".", "tau": 2}])
def test_cascade_from_config_refuses_bad_entries(spec: object, tiny_encoder_dir: Path) -> None:
    _, second = models()
    with pytest.raises(ModelError, match="cascade"):
        CascadeModel.from_config(tiny_encoder_dir, spec, second)


def test_cascade_reuses_an_ensemble_member_as_first() -> None:
    first, enc = models()
    known_seen: list[dict[str, FloatArray]] = []

    class Ensemble(Scripted):
        @property
        def names(self) -> list[str]:
            return ["encoder", "lexical"]

        def member(self, name: str) -> Scripted:
            return first if name == "lexical" else enc

        def predict_proba_texts(self, texts: Sequence[str],  # type: ignore[override]
                                known: dict[str, FloatArray] | None = None) -> FloatArray:
            known_seen.append(dict(known or {}))
            return super().predict_proba_texts(texts)

    second = Ensemble(SECOND, "ens@3")
    model = CascadeModel.from_config(Path("/nonexistent"), {"first": "lexical", "tau": 0.9}, second)
    assert isinstance(model, CascadeModel) and model.first is first and model.member == "lexical"
    model.predict_proba_texts(["sure-sharing", "unsure", "borderline"])
    assert second.calls == [["unsure", "borderline"]] and len(first.calls) == 1
    (known,) = known_seen  # the ensemble gets the member's probabilities instead of recomputing them
    np.testing.assert_array_equal(known["lexical"], [FIRST["unsure"], FIRST["borderline"]])
