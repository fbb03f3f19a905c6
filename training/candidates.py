"""Candidate models side by side: the figures a choice between retrained models was made on.

For each model folder: how it was trained (its data files and their hashes, from ``meta.json``), the
full model's figures on the held-out writers, the real notes and the hotel reviews (``metrics.json``,
``--exact``), and the default path's figures on the sets every model is measured on alike
(:func:`training.quality.fixed_sets`: w5 and the real dev notes; the unseen writers differ per model).
The model folders themselves need not be kept; the result file is::

    python -m training.candidates models/notecheck-base /tmp/candidate-a ... \\
        --out training/results/candidates-2026-12-05.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.evaluate import genuine_flagged
from training.quality import fixed_sets, measure

RESULT = Path(__file__).resolve().parent / "results" / "candidates.json"
SETS = ("val", "test_authored", "test_writer:w5", "test_writer:w7", "eval:dev")


def chosen_over(meta: dict[str, Any], path: Path = RESULT) -> list[str] | None:
    """The other candidates' labels when the model of ``meta`` (name, version, created) is one of the
    models the result file compares; none when it is not."""
    if not path.is_file():
        return None
    result = json.loads(path.read_text("utf-8"))
    if not any(r["name"] == meta["name"] and r["version"] == meta["version"] and r["created"] == meta["created"]
               for r in result.values()):
        return None
    return [label for label, r in result.items() if r["created"] != meta["created"]]


def exact_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SETS:
        if name not in metrics:
            continue
        m = metrics[name]["combined"]
        pc = m["per_class"]
        out[name] = {"n": m["n"], "macro_f1": round(m["macro_f1"], 4),
                     "undisclosed_ad_f1": round(pc["undisclosed_ad"]["f1"], 4),
                     "undisclosed_ad_recall": round(pc["undisclosed_ad"]["recall"], 4),
                     "declared_f1": round(pc["declared"]["f1"], 4),
                     "genuine_flagged_ad": round(genuine_flagged(m), 4),
                     "confusion": m["confusion"]["matrix"]}
    if "heldout_reviews" in metrics:
        out["heldout_reviews_flagged"] = round(metrics["heldout_reviews"]["flagged_undisclosed_rate"], 5)
    return out


def describe(model_dir: Path) -> dict[str, Any]:
    meta = json.loads((model_dir / "meta.json").read_text("utf-8"))
    metrics = json.loads((model_dir / "metrics.json").read_text("utf-8"))
    return {"name": meta["name"], "version": meta["version"], "created": meta["created"],
            "data": meta["data"], "test_writers": meta["args"].get("test_writers") or [],
            "augment": meta["args"].get("augment") or [],
            "train_n": meta["splits"]["train"]["n"],
            "thresholds": json.loads((model_dir / "policy.json").read_text("utf-8"))["thresholds"],
            "exact": exact_figures(metrics), "default_path": measure(model_dir, fixed_sets())}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.candidates", description=__doc__.split("\n\n")[0])
    p.add_argument("models", type=Path, nargs="+", help="model folders (each with meta.json and metrics.json)")
    p.add_argument("--label", nargs="+", help="a short name per model (default: the folder names)")
    p.add_argument("--out", type=Path, required=True, help="result JSON")
    args = p.parse_args(argv)
    labels = args.label or [m.name for m in args.models]
    if len(labels) != len(args.models):
        print(f"candidates: error: {len(labels)} labels for {len(args.models)} models", file=sys.stderr)
        return 2
    for m in args.models:
        if not (m / "meta.json").is_file() or not (m / "metrics.json").is_file():
            print(f"candidates: error: {m} has no meta.json and metrics.json", file=sys.stderr)
            return 2
    result = {label: describe(m) for label, m in zip(labels, args.models, strict=True)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    for label, r in result.items():
        dev = r["default_path"]["sets"].get("real_dev", {})
        w5 = r["default_path"]["sets"].get("held_out_writer_w5", {})
        print(f"{label}: real dev macro-F1 {dev.get('macro_f1')} genuine flagged {dev.get('genuine_flagged_ad')}; "
              f"w5 ad-F1 {w5.get('undisclosed_ad_f1')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
