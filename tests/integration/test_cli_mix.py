"""`notecheck mix`: the label mix of a scored dump, estimated from the shipped model's scores alone,
checked against the real dev notes' known labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.model import default_model_dir
from classifier.rules import Priors
from serving.cli import main
from training.quality import REAL_DEV


def test_mix_of_the_scored_real_notes_holds_their_true_ad_share(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    assert main(["score", str(REAL_DEV), "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["mix", str(out), "--json", str(tmp_path / "mix.json")]) == 0
    printed = capsys.readouterr().out
    est = json.loads((tmp_path / "mix.json").read_text("utf-8"))
    labels = [json.loads(line)["label"] for line in REAL_DEV.read_text("utf-8").splitlines() if line.strip()]
    true_ad = labels.count("undisclosed_ad") / len(labels)
    assert est["n"] == len(labels) == 116 and est["converged"]
    assert est["low"]["undisclosed_ad"] <= true_ad <= est["high"]["undisclosed_ad"]  # 42 of 116 ads
    meta = json.loads((default_model_dir() / "meta.json").read_text("utf-8"))
    assert est["model"] == f"{meta['name']}@{meta['version']}"  # the model, not how it ran (fast path)
    command = next(line for line in printed.splitlines() if line.startswith("to score for this mix:"))
    value = command.split("--deployment-prior ", 1)[1]
    shares = {k: float(v) for k, v in (part.split("=") for part in value.split(","))}
    Priors(model={"sharing": 0.5, "undisclosed_ad": 0.3, "declared": 0.2}, deployment=shares)


def test_mix_refuses_verdicts_of_another_model(tmp_path: Path, lexical_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    out.write_text(json.dumps({"id": "a", "model_version": "other@1", "model_scores": {
        "sharing": 0.5, "undisclosed_ad": 0.3, "declared": 0.2}}) + "\n", "utf-8")
    assert main(["mix", str(out), "--model", str(lexical_dir)]) == 1
    err = capsys.readouterr().err
    assert "row 1, field 'model_version'" in err and "scored by model 'other@1'" in err


def test_mix_reads_the_verdicts_in_every_format_score_writes(tmp_path: Path) -> None:
    from classifier.model import default_model_dir
    from training.mix import model_priors, read_model_scores

    _, model = model_priors(default_model_dir())
    dump = Path(__file__).resolve().parents[2] / "examples" / "notes_crawler.jsonl"
    outs = [tmp_path / f"v.{ext}" for ext in ("jsonl", "csv", "parquet")]
    for out in outs:
        assert main(["score", str(dump), "-o", str(out), "--no-progress"]) == 0
    jsonl, csv, parquet = (read_model_scores([out], model) for out in outs)
    assert jsonl.shape == (24, 3) and (csv == jsonl).all() and (parquet == jsonl).all()
