"""Training end to end: lexical via the CLI, the encoder loop on a tiny BERT (learns a toy task,
checkpoints, resumes), and `notecheck eval` with its HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.registry import load_model
from classifier.types import LABELS
from serving.cli import main
from tests.conftest import TOY_NOTES, write_jsonl
from training.data import load_labelled, make_splits
from training.trainer import TrainArgs

SUFFIXES = ["", "！", "。", "～", "啊", "呢", "吧", "哦"]


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [{"id": f"t{i}-{j}", "text": text + suffix, "label": label, "writer": f"w{j % 3}"}
            for i, (text, label) in enumerate(TOY_NOTES) for j, suffix in enumerate(SUFFIXES)]
    return write_jsonl(tmp_path_factory.mktemp("toy") / "toy.jsonl", rows)


def test_training_lexical_cli_writes_a_complete_folder(toy_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "lex"
    assert main(["train", "--kind", "lexical", "--data", str(toy_file), "--out", str(out),
                 "--test-writers", "w2", "--version", "t1"]) == 0
    for name in ("notecheck.json", "vocab.json", "weights.safetensors", "policy.json", "meta.json",
                 "metrics.json", "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "meta.json").read_text("utf-8"))
    assert meta["data"][0]["sha256"] and meta["libraries"]["scikit-learn"]
    assert meta["command"].startswith("notecheck train")
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert set(metrics["test"]) == {"model", "rules", "combined"}
    assert metrics["test"]["combined"]["n"] == sum(1 for j in range(len(SUFFIXES)) if j % 3 == 2) * len(TOY_NOTES)
    model = load_model(out)
    assert model.version == "lex@t1"
    assert "test_authored" in (out / "MODEL_CARD.md").read_text("utf-8")


def _encoder_args(toy_file: Path, base: Path, out: Path, **kw: object) -> TrainArgs:
    options: dict[str, object] = {"epochs": 30, "lr": 3e-3, "batch_size": 8, "max_length": 48,
                                  "patience": 100, **kw}
    return TrainArgs(data=[toy_file], out=out, kind="encoder", base=str(base), **options)  # type: ignore[arg-type]


@pytest.mark.slow
def test_training_encoder_learns_a_toy_task(toy_file: Path, tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from training.trainer import train

    out = train(_encoder_args(toy_file, tiny_encoder_dir, tmp_path / "enc", version="t1"), log=lambda m: None)
    model = load_model(out)
    texts = [t for t, _ in TOY_NOTES]
    predicted = [LABELS[i] for i in model.predict_proba_texts(texts).argmax(axis=1)]  # type: ignore[attr-defined]
    accuracy = np.mean([p == lab for p, (_, lab) in zip(predicted, TOY_NOTES, strict=True)])
    assert accuracy >= 0.8, predicted
    cfg = json.loads((out / "notecheck.json").read_text("utf-8"))
    assert cfg["kind"] == "encoder" and cfg["temperature"] > 0
    assert not (out / "checkpoint").exists()
    # fp16 on disk, fp32 in memory
    assert next(model.model.parameters()).dtype.is_floating_point  # type: ignore[attr-defined]


@pytest.mark.slow
def test_training_encoder_resumes_from_checkpoint(toy_file: Path, tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from training.finetune import fit_encoder

    splits = make_splits(load_labelled(toy_file))
    out = tmp_path / "enc"
    fit_encoder(_encoder_args(toy_file, tiny_encoder_dir, out, epochs=1), splits, log=lambda m: None)
    state = json.loads((out / "checkpoint" / "state.json").read_text("utf-8"))
    assert state["step"] > 0
    messages: list[str] = []
    fit_encoder(_encoder_args(toy_file, tiny_encoder_dir, out, epochs=2, resume=True), splits, log=messages.append)
    assert any(m.startswith(f"resumed at step {state['step']}") for m in messages)
    again = json.loads((out / "checkpoint" / "state.json").read_text("utf-8"))
    assert again["step"] > state["step"]


def test_training_args_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--data"):
        TrainArgs(data=[tmp_path / "missing.jsonl"], out=tmp_path / "o")
    f = write_jsonl(tmp_path / "x.jsonl", [{"id": "1", "text": "x", "label": "sharing"}])
    with pytest.raises(ValueError, match="kind"):
        TrainArgs(data=[f], out=tmp_path / "o", kind="svm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epochs"):
        TrainArgs(data=[f], out=tmp_path / "o", epochs=0)


def test_eval_cli_prints_metrics_and_writes_report(toy_file: Path, lexical_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    report, as_json = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["eval", "--data", str(toy_file), "--model", str(lexical_dir), "--report", str(report),
                 "--json", str(as_json)]) == 0
    printed = capsys.readouterr().out
    assert "macro-F1" in printed and "PR-AUC" in printed and "confusion" in printed
    page = report.read_text("utf-8")
    assert page.count("<svg") >= 3 and "Worst errors" in page
    assert set(json.loads(as_json.read_text("utf-8"))) == {"model", "rules", "combined"}


@pytest.mark.slow
def test_training_ensemble_writes_members_and_reports_each(toy_file: Path, tiny_encoder_dir: Path,
                                                            tmp_path: Path) -> None:
    from classifier.ensemble import EnsembleModel
    from training.trainer import train

    args = _encoder_args(toy_file, tiny_encoder_dir, tmp_path / "ens", version="t1", epochs=3)
    args.kind = "ensemble"
    out = train(args, log=lambda m: None)
    model = load_model(out)
    assert isinstance(model, EnsembleModel) and model.names == ["encoder", "lexical"]
    assert (out / "encoder" / "model.safetensors").is_file() and (out / "lexical" / "vocab.json").is_file()
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert {"model", "model:encoder", "model:lexical", "rules", "combined"} <= set(metrics["test"])


def test_training_reevaluate_rewrites_metrics_for_new_test_notes(toy_file: Path, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data.jsonl"
    shutil.copy(toy_file, data)
    out = tmp_path / "lex"
    assert main(["train", "--kind", "lexical", "--data", str(data), "--out", str(out), "--test-writers", "w2"]) == 0
    before = json.loads((out / "metrics.json").read_text("utf-8"))["test"]["combined"]["n"]
    with data.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "new-1", "text": "新来的测试笔记，加薇信领券", "label": "undisclosed_ad",
                            "writer": "w2"}, ensure_ascii=False) + "\n")
    assert main(["reevaluate", str(out)]) == 0
    after = json.loads((out / "metrics.json").read_text("utf-8"))["test"]["combined"]["n"]
    assert after == before + 1
    assert "recomputed" in (out / "MODEL_CARD.md").read_text("utf-8")


def test_training_eval_data_is_reported_never_trained_and_card_shows_it(toy_file: Path, tmp_path: Path) -> None:
    evals = write_jsonl(tmp_path / "real.jsonl", [
        {"id": "r1", "text": "周末去爬山，风景很好", "label": "sharing"},
        {"id": "r2", "text": "现货清仓，卖完无补，私我", "label": "undisclosed_ad"},
        {"id": "r3", "text": "感谢某品牌方赠送体验，用着还行", "label": "declared"},
    ])
    out = tmp_path / "lex"
    assert main(["train", "--kind", "lexical", "--data", str(toy_file), "--out", str(out),
                 "--test-writers", "w1", "w2", "--eval-data", str(evals)]) == 0
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert metrics["eval:real"]["combined"]["n"] == 3
    assert {"test_writer:w1", "test_writer:w2"} <= set(metrics)
    assert "text" not in json.dumps(metrics["eval:real"]["combined"]["worst_errors"])  # ids only
    meta = json.loads((out / "meta.json").read_text("utf-8"))
    hashed = {Path(d["path"]).name for d in meta["data"]}
    assert {"toy.jsonl", "real.jsonl"} <= hashed
    assert meta["priors"]["deployment"]["undisclosed_ad"] == pytest.approx(0.12)
    card = (out / "MODEL_CARD.md").read_text("utf-8")
    assert "| eval:real | 3 |" in card and "## How this configuration was chosen" in card
    assert "Source of the prior" in card
    # the model's own prior is its validation mix, written into the policy next to the deployment's
    policy = json.loads((out / "policy.json").read_text("utf-8"))
    assert sum(policy["priors"]["model"].values()) == pytest.approx(1.0, abs=1e-3)


def test_training_retune_sets_a_deployment_prior_and_keeps_the_model(toy_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "lex"
    assert main(["train", "--kind", "lexical", "--data", str(toy_file), "--out", str(out),
                 "--test-writers", "w2"]) == 0
    weights = (out / "weights.safetensors").read_bytes()
    assert main(["retune", str(out), "--deployment-prior",
                 "sharing=0.5,undisclosed_ad=0.4,declared=0.1"]) == 0
    policy = json.loads((out / "policy.json").read_text("utf-8"))
    assert policy["priors"]["deployment"] == {"sharing": 0.5, "undisclosed_ad": 0.4, "declared": 0.1}
    assert (out / "weights.safetensors").read_bytes() == weights
    with pytest.raises(SystemExit) as exc:
        main(["retune", str(out), "--deployment-prior", "sharing=lots"])
    assert exc.value.code == 2


def test_training_lowo_holds_out_each_writer(toy_file: Path, tmp_path: Path) -> None:
    from training.lowo import main as lowo_main

    out = tmp_path / "lowo.json"
    assert lowo_main(["--data", str(toy_file), "--out", str(out)]) == 0
    result = json.loads(out.read_text("utf-8"))
    assert set(result["folds"]) == {"w0", "w1", "w2"}
    assert all(f["n"] == len(TOY_NOTES) * sum(1 for j in range(len(SUFFIXES)) if j % 3 == int(w[1]))
               for w, f in result["folds"].items())
    assert result["macro_f1_min"] <= result["macro_f1_mean"] <= result["macro_f1_max"]


def test_training_augment_adds_topic_free_copies_to_the_training_split_only(tmp_path: Path) -> None:
    from classifier.types import Note
    from training.trainer import assemble, recorded_args, without_topics

    note = Note(id="a", text="好用\n#护肤[话题]# #换季#", topics=("护肤", "换季"))
    bare = without_topics(note)
    assert bare is not None and (bare.id, bare.text, bare.topics) == ("a~no-topics", "好用", ())
    assert without_topics(Note(id="b", text="#护肤# 好用")) is None  # no topics field: nothing to drop
    rows = [{"id": f"n{i}", "text": f"第{i}条 很好用 #护肤[话题]#", "topics": ["护肤"],
             "label": LABELS[i % 3], "writer": f"w{(i // 3) % 3}"} for i in range(150)]
    data = write_jsonl(tmp_path / "t.jsonl", rows)
    plain = assemble(TrainArgs(data=[data], out=tmp_path / "o", test_writers=["w2"]))
    more = assemble(TrainArgs(data=[data], out=tmp_path / "o", test_writers=["w2"], augment=["topics-dropped"]))
    assert (more.val, more.test) == (plain.val, plain.test)
    copies = more.train[len(plain.train):]
    assert more.train[:len(plain.train)] == plain.train and len(copies) == len(plain.train)
    assert all(c.note.id.endswith("~no-topics") and "护肤" not in c.note.text and not c.note.topics
               for c in copies)
    assert [c.label for c in copies] == [x.label for x in plain.train]
    with pytest.raises(ValueError, match="--augment"):
        TrainArgs(data=[data], out=tmp_path / "o", augment=["shuffle"])
    out = tmp_path / "lex"
    assert main(["train", "--kind", "lexical", "--data", str(data), "--out", str(out), "--test-writers", "w2",
                 "--augment", "topics-dropped"]) == 0
    assert recorded_args(out).augment == ["topics-dropped"]
    assert "`topics-dropped` (`notecheck train --augment`" in (out / "MODEL_CARD.md").read_text("utf-8")
    assert len(assemble(recorded_args(out)).train) == len(more.train)
