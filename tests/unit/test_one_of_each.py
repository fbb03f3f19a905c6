"""One of each: one file hasher, one plotting module, one reader of a model's recorded split."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("classifier", "serving", "training", "bench")


def sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text("utf-8")
            for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def holding(pattern: str) -> list[str]:
    return sorted(name for name, text in sources().items() if re.search(pattern, text))


def test_one_file_hasher() -> None:
    assert holding(r"hashlib\.sha256\(") == ["classifier/model.py"]


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    from classifier.model import file_sha256

    data = bytes(range(256)) * 5000  # over one 1 MiB block
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_one_plotting_module() -> None:
    assert holding(r"<svg") == ["serving/report/svg.py"]


def test_evaluation_plots_come_from_the_plotting_module() -> None:
    from serving.report import svg
    from training import report

    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=40)
    truth = [("sharing", "undisclosed_ad", "declared")[i] for i in rng.integers(0, 3, 40)]
    for figure in (report.confusion_svg([[3, 1, 0], [0, 4, 2], [1, 0, 5]]),
                   report.pr_svg(proba, truth), report.reliability_svg(proba, truth)):
        assert figure.startswith("<figure><svg") and figure.endswith("</figure>")
    assert "AP=" in report.pr_svg(proba, truth)
    labelled = svg.confusion_matrix([[1, 0], [0, 1]], ["<a>", "b"])
    assert "&lt;a&gt;" in labelled and "<a>" not in labelled


def _meta(model_dir: Path, args: dict[str, object]) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "meta.json").write_text(json.dumps({"args": args}), "utf-8")
    return model_dir


def test_export_reads_the_recorded_split_through_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import export, trainer

    seen: list[Path] = []
    mine = tmp_path / "mine.jsonl"
    mine.write_text("", "utf-8")

    def recorded_split(model_dir: Path) -> dict[str, object]:
        seen.append(Path(model_dir))
        return {"data": [mine]}

    monkeypatch.setattr(trainer, "recorded_split", recorded_split)
    assert export.recorded_data(tmp_path / "model") == [mine]
    assert seen == [tmp_path / "model"]


def test_export_recorded_data_keeps_existing_files_else_the_seed_files(tmp_path: Path) -> None:
    from training.export import REPO, default_data, recorded_data

    seed = min((REPO / "training" / "data").glob("seed_*.jsonl"))
    absolute = tmp_path / "extra.jsonl"
    absolute.write_text("", "utf-8")
    model = _meta(tmp_path / "m", {"kind": "lexical", "test_writers": ["w5"], "seed": 3, "data": [
        str(seed.relative_to(REPO)), str(absolute), "training/data/not_there.jsonl"]})
    assert recorded_data(model) == [seed, absolute]
    assert recorded_data(tmp_path / "no_model") == default_data()
    gone = _meta(tmp_path / "gone", {"kind": "lexical", "data": ["not_there.jsonl"]})
    assert recorded_data(gone) == default_data()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text("{not json", "utf-8")
    assert recorded_data(tmp_path / "bad") == default_data()
    assert recorded_data(_meta(tmp_path / "none", {"kind": "lexical", "data": None})) == default_data()


def test_recorded_args_validates_what_recorded_split_reads(tmp_path: Path) -> None:
    from training.export import REPO
    from training.trainer import recorded_args, recorded_split

    seed = min((REPO / "training" / "data").glob("seed_*.jsonl"))
    model = _meta(tmp_path / "m", {"kind": "lexical", "data": [str(seed)],
                                   "test_writers": ["w5"], "seed": 7})
    split = recorded_split(model)
    assert split == {"data": [seed], "kind": "lexical", "proxies": None, "test_writers": ["w5"],
                     "seed": 7, "eval_data": [], "augment": []}
    args = recorded_args(model)
    assert (args.data, args.kind, args.test_writers, args.seed, args.out, args.augment) == (
        [seed], "lexical", ["w5"], 7, model, [])
