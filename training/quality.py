"""The shipped model's pinned quality: figures on the held-out writer and on the real notes.

``measure()`` scores the evaluation sets with a model folder on the default (fast) path, exactly as
``notecheck score`` would; ``python -m training.quality --write`` stores the result as the pins
(``tests/data/quality_pins.json``), and a test fails when a later model or policy scores more than
one point below a pin on any set. Retrain, measure, and only then move the pins, in the same commit
as the model, so a regression is never silent.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.data import load_labelled

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tests" / "data" / "quality_pins.json"
REAL_DEV = ROOT.parent / "shared" / "data" / "real_notes" / "dev.jsonl"
HELD_OUT = ROOT / "training" / "data" / "seed_w5.jsonl"
TOLERANCE = 0.01
PINNED = ("macro_f1", "undisclosed_ad_f1", "undisclosed_ad_recall")


def eval_sets() -> dict[str, Path]:
    return {"held_out_writer_w5": HELD_OUT, "real_dev": REAL_DEV}


def measure(model_dir: Path | None = None, sets: dict[str, Path] | None = None) -> dict[str, Any]:
    """Per set: macro-F1, undisclosed_ad F1 and recall, and the share of genuine notes labelled
    ``undisclosed_ad``, from the combined pipeline on the default path."""
    from sklearn.metrics import f1_score, recall_score

    from classifier.pipeline import Pipeline

    pipeline = Pipeline.load(model_dir)
    out: dict[str, Any] = {"model": pipeline.model_version, "policy": pipeline.policy.version, "sets": {}}
    for name, path in (sets or eval_sets()).items():
        examples = load_labelled(path)
        truth = [x.label for x in examples]
        pred = [v.label for v in pipeline.pipe([x.note for x in examples])]
        genuine = [p for t, p in zip(truth, pred, strict=True) if t == "sharing"]
        out["sets"][name] = {
            "n": len(truth),
            "macro_f1": round(float(f1_score(truth, pred, average="macro",
                                             labels=["sharing", "undisclosed_ad", "declared"],
                                             zero_division=0.0)), 4),
            "undisclosed_ad_f1": round(float(f1_score(truth, pred, labels=["undisclosed_ad"], average="macro",
                                                      zero_division=0.0)), 4),
            "undisclosed_ad_recall": round(float(recall_score(truth, pred, labels=["undisclosed_ad"],
                                                              average="macro", zero_division=0.0)), 4),
            "genuine_flagged_ad": round(genuine.count("undisclosed_ad") / max(len(genuine), 1), 4),
        }
    return out


def regressions(now: dict[str, Any], pins: dict[str, Any], tolerance: float = TOLERANCE) -> list[str]:
    """What dropped by more than ``tolerance`` below its pin (and a genuine-flag rate that rose)."""
    out = []
    for name, pinned in pins["sets"].items():
        got = now["sets"].get(name)
        if got is None:
            out.append(f"{name}: not measured")
            continue
        for key in PINNED:
            if got[key] < pinned[key] - tolerance:
                out.append(f"{name} {key}: {got[key]:.4f} < pinned {pinned[key]:.4f} - {tolerance}")
        if got["genuine_flagged_ad"] > pinned["genuine_flagged_ad"] + tolerance:
            out.append(f"{name} genuine_flagged_ad: {got['genuine_flagged_ad']:.4f} > pinned "
                       f"{pinned['genuine_flagged_ad']:.4f} + {tolerance}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--write", action="store_true", help=f"store the figures as the pins ({PINS.relative_to(ROOT)})")
    args = p.parse_args(argv)
    now = measure(args.model)
    print(json.dumps(now, ensure_ascii=False, indent=2))
    if args.write:
        PINS.write_text(json.dumps(now, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"pins -> {PINS}")
    elif PINS.is_file():
        problems = regressions(now, json.loads(PINS.read_text("utf-8")))
        print("\n".join(problems) if problems else "no regression beyond one point")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
