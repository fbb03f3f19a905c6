"""training.candidates: retrained models side by side, from their own files and the default path."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import TOY_NOTES, write_jsonl
from training.candidates import main
from training.readme import render_candidates
from training.trainer import TrainArgs, train


def _model(tmp_path: Path, name: str, writers: int) -> Path:
    """Writers w5 and w7 (held out) write each toy note once; every other writer four times."""
    rows: list[dict[str, object]] = [{"id": f"{name}-{i}-{j}-{k}", "text": text + "！" * j + "～" * k, "label": label,
             "writer": f"w{5 + 2 * j}" if j < 2 else f"w{10 + j}"}
            for i, (text, label) in enumerate(TOY_NOTES) for j in range(writers) for k in range(1 if j < 2 else 4)]
    data = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    out = tmp_path / name
    train(TrainArgs(data=[data], out=out, kind="lexical", test_writers=["w5", "w7"], name=name, version="t1"),
          log=lambda _m: None)
    return out


def test_candidates_are_written_side_by_side(tmp_path: Path) -> None:
    a, b = _model(tmp_path, "cand-a", 4), _model(tmp_path, "cand-b", 6)
    out = tmp_path / "r" / "candidates.json"
    assert main([str(a), str(b), "--label", "a", "b", "--out", str(out)]) == 0
    result = json.loads(out.read_text("utf-8"))
    assert list(result) == ["a", "b"]
    assert result["a"]["train_n"] < result["b"]["train_n"]  # two more training writers
    assert result["b"]["data"][0]["path"].endswith("cand-b.jsonl") and result["b"]["data"][0]["sha256"]
    assert result["a"]["test_writers"] == ["w5", "w7"]
    exact = result["a"]["exact"]
    assert {"test_authored", "test_writer:w5", "test_writer:w7"} <= set(exact)
    assert exact["test_writer:w5"]["n"] == len(TOY_NOTES)
    assert sum(map(sum, exact["test_writer:w5"]["confusion"])) == len(TOY_NOTES)
    sets = result["a"]["default_path"]["sets"]
    assert set(sets) == {"held_out_writer_w5", "real_dev"} and sets["real_dev"]["n"] > 0
    rows = [line for line in render_candidates(result).splitlines() if line.startswith(("| a |", "| b |"))]
    assert len(rows) == 2 and "| - | w5, w7 |" in rows[0]  # only seed_* files are authored writers
    assert f"| {sets['real_dev']['macro_f1']:.3f} |" in rows[0]


def test_candidates_refuse_a_folder_without_metrics_and_mismatched_labels(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    assert main([str(tmp_path), "--out", str(out)]) == 2
    assert main([str(tmp_path), str(tmp_path), "--label", "one", "--out", str(out)]) == 2
    assert not out.exists()
