"""The default fast path and ``--exact``: what the production loader builds from a model folder."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifier.cascade import CascadeModel, confident, thresholds_of
from classifier.encoder import EncoderModel
from classifier.ensemble import EnsembleModel
from classifier.lexical import LexicalModel
from classifier.model import model_text
from classifier.onnx_backend import ONNX_META, OnnxEncoderModel
from classifier.pipeline import Pipeline
from classifier.registry import load_model
from classifier.types import LABELS, Note
from tests.conftest import TOY_NOTES, write_jsonl

NOTES = [Note(id=f"n{i}", text=t) for i, (t, _) in enumerate(TOY_NOTES)] + [
    Note(id="x1", text="今天天气不错，出门散步"), Note(id="x2", title="好物", text="链接在主页，私我")]


def _ensemble(tmp_path: Path, lexical_dir: Path, encoder_dir: Path, cascade: Any = None) -> Path:
    out = tmp_path / "ens"
    out.mkdir()
    shutil.copytree(lexical_dir, out / "lexical")
    shutil.copytree(encoder_dir, out / "encoder")
    cfg: dict[str, Any] = {"kind": "ensemble", "name": "toy-ens", "version": "t1", "labels": list(LABELS),
                           "members": [{"path": "encoder", "weight": 0.5}, {"path": "lexical", "weight": 0.5}],
                           "temperature": 0.9}
    if cascade is not None:
        cfg["cascade"] = cascade
    (out / "notecheck.json").write_text(json.dumps(cfg), "utf-8")
    return out


def _cascade_spec(tau: float = 0.6, first_version: str = "toy-lexical@t1") -> dict[str, Any]:
    return {"first": "lexical", "first_version": first_version, "tau": tau}


@pytest.fixture()
def fast_dir(tmp_path: Path, lexical_dir: Path, onnx_encoder_dir: Path) -> Path:
    """An ensemble of the exported tiny encoder and the toy lexical model, with a tuned cascade."""
    return _ensemble(tmp_path, lexical_dir, onnx_encoder_dir, _cascade_spec())


def test_fast_path_encoder_runs_on_its_int8_graph_unless_exact(onnx_encoder_dir: Path) -> None:
    fast = load_model(onnx_encoder_dir)
    assert isinstance(fast, OnnxEncoderModel) and fast.version.endswith("+onnx-int8-attention")
    exact = load_model(onnx_encoder_dir, exact=True)
    assert type(exact) is EncoderModel and exact.version == "tiny-encoder@t1"


def test_fast_path_without_graph_uses_torch_and_says_so(
    tiny_encoder_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="notecheck.model"):
        model = load_model(tiny_encoder_dir)
    assert type(model) is EncoderModel
    assert "torch fp32" in caplog.text and "training.export" in caplog.text


def test_fast_path_ignores_a_stale_graph(onnx_encoder_dir: Path, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(onnx_encoder_dir, stale)
    meta = json.loads((stale / ONNX_META).read_text("utf-8"))
    meta["weights_sha256"] = "0" * 64  # as if the weights had been retrained since the export
    (stale / ONNX_META).write_text(json.dumps(meta), "utf-8")
    with caplog.at_level("WARNING", logger="notecheck.onnx"):
        model = load_model(stale)
    assert type(model) is EncoderModel
    assert "other weights" in caplog.text


def test_fast_path_cascade_reuses_the_ensembles_lexical_member(fast_dir: Path) -> None:
    model = load_model(fast_dir)
    assert isinstance(model, CascadeModel)
    ensemble = model.second
    assert isinstance(ensemble, EnsembleModel)
    assert model.first is ensemble.member("lexical")  # loaded once, not a second copy
    assert isinstance(ensemble.member("encoder"), OnnxEncoderModel)
    assert model.version == "toy-ens@t1+onnx-int8-attention+cascade(toy-lexical@t1,tau=0.6)"

    lexical = ensemble.member("lexical")
    assert isinstance(lexical, LexicalModel)
    calls: list[int] = []
    scored = lexical.predict_proba_texts
    lexical.predict_proba_texts = lambda texts: calls.append(len(texts)) or scored(texts)  # type: ignore[method-assign]
    proba = model.predict_proba(NOTES)
    assert calls == [len(NOTES)]  # the ensemble reused the first stage's probabilities

    texts = [model_text(n) for n in NOTES]
    p_lex = scored(texts)
    keep = confident(p_lex, thresholds_of(0.6))
    assert 0 < keep.sum() < len(NOTES), "the toy data should route some notes each way"
    assert model.routed_ == {"first": int(keep.sum()), "second": int((~keep).sum())}
    np.testing.assert_allclose(proba[keep], p_lex[keep])
    rest = [t for t, k in zip(texts, keep, strict=True) if not k]
    np.testing.assert_allclose(proba[~keep], ensemble.predict_proba_texts(rest), atol=1e-12)


def test_fast_path_cascade_with_tau_one_is_the_ensemble_exactly(
    tmp_path: Path, lexical_dir: Path, onnx_encoder_dir: Path
) -> None:
    model = load_model(_ensemble(tmp_path, lexical_dir, onnx_encoder_dir, _cascade_spec(tau=1.0)))
    assert isinstance(model, CascadeModel)
    np.testing.assert_array_equal(model.predict_proba(NOTES), model.second.predict_proba(NOTES))
    assert model.routed_ == {"first": 0, "second": len(NOTES)}


def test_fast_path_cascade_is_off_when_the_lexical_member_changed(
    tmp_path: Path, lexical_dir: Path, onnx_encoder_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _ensemble(tmp_path, lexical_dir, onnx_encoder_dir, _cascade_spec(first_version="toy-lexical@t0"))
    with caplog.at_level("WARNING", logger="notecheck.cascade"):
        model = load_model(folder)
    assert isinstance(model, EnsembleModel) and "re-tuned" in caplog.text
    assert isinstance(model.member("encoder"), OnnxEncoderModel)  # still int8: only the cascade is off


def test_fast_path_exact_is_torch_without_cascade(fast_dir: Path) -> None:
    model = load_model(fast_dir, exact=True)
    assert isinstance(model, EnsembleModel) and model.version == "toy-ens@t1"
    assert type(model.member("encoder")) is EncoderModel
    assert Pipeline.load(fast_dir, exact=True).model_version == "toy-ens@t1"
    assert "+cascade(" in Pipeline.load(fast_dir).model_version


def test_fast_path_cli_exact_flag(fast_dir: Path, tmp_path: Path) -> None:
    from serving.cli import main

    src = write_jsonl(tmp_path / "in.jsonl", [{"id": n.id, "title": n.title, "text": n.text} for n in NOTES])
    versions = {}
    for flag in ([], ["--exact"]):
        out = tmp_path / f"out{len(flag)}.jsonl"
        assert main(["score", str(src), "-o", str(out), "--model", str(fast_dir), "--no-progress", *flag]) == 0
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert len(rows) == len(NOTES)
        versions[bool(flag)] = {r["model_version"] for r in rows}
    assert versions[True] == {"toy-ens@t1"}
    assert versions[False] == {"toy-ens@t1+onnx-int8-attention+cascade(toy-lexical@t1,tau=0.6)"}


def test_fast_path_serve_exact_option_and_variable(fast_dir: Path) -> None:
    from serving.http.app import _OPTION_FIELDS, add_serve_command
    from serving.http.service import default_pipeline_factory
    from serving.http.settings import Settings

    sub = argparse.ArgumentParser().add_subparsers()
    parser = add_serve_command(sub)
    args = parser.parse_args(["--exact"])
    assert args.exact is True and parser.parse_args([]).exact is None  # unset: the variable decides
    assert "exact" in _OPTION_FIELDS
    assert Settings.from_env({"NOTECHECK_EXACT": "true"}).exact is True
    assert Settings.from_env({}).exact is False
    assert default_pipeline_factory(Settings(model=fast_dir, exact=True)).model_version == "toy-ens@t1"
    assert "+cascade(" in default_pipeline_factory(Settings(model=fast_dir)).model_version
