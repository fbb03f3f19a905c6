"""The shipped model's pinned quality: figures on the held-out writer, the real notes and the
authored writers the model was never trained on.

``measure()`` scores the evaluation sets with a model folder on the default (fast) path, exactly as
``notecheck score`` would; ``python -m training.quality --write`` stores the result as the pins
(``tests/data/quality_pins.json``), and a test fails when a later model or policy scores more than
one point below a pin on any set. Retrain, measure, and only then move the pins, in the same commit
as the model, so a regression is never silent.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from classifier.model import default_model_dir, file_sha256
from classifier.types import LABELS
from training.data import load_labelled
from training.evaluate import confusions, f1_of_confusions

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tests" / "data" / "quality_pins.json"
REAL_DEV = ROOT.parent / "shared" / "data" / "real_notes" / "dev.jsonl"
SEED_DIR = ROOT / "training" / "data"
HELD_OUT = SEED_DIR / "seed_w5.jsonl"
UNSEEN = "unseen_writers"
TOLERANCE = 0.01
PINNED = ("macro_f1", "undisclosed_ad_f1", "undisclosed_ad_recall")
BOOTSTRAP = 2000
"""Resamples behind each set's 90% interval (:func:`intervals`; seeded, so a re-measure repeats it)."""


def unseen_files(model_dir: Path) -> list[Path]:
    """The authored files (``training/data/seed_w*.jsonl``) that are not among the model's data files
    (``meta.json``): writers it was never trained on, and whose notes fitted none of its calibration,
    thresholds or rule weights (all fitted on a split of its own data)."""
    used = {Path(p).name for p in json.loads((model_dir / "meta.json").read_text("utf-8"))["args"]["data"]}
    seeds = sorted(SEED_DIR.glob("seed_w*.jsonl"), key=lambda p: int(p.stem.removeprefix("seed_w")))
    return [p for p in seeds if p.name not in used]


def fixed_sets() -> dict[str, list[Path]]:
    """The sets every model is measured on alike: the held-out writer w5 and the real dev notes."""
    return {"held_out_writer_w5": [HELD_OUT], "real_dev": [REAL_DEV]}


def eval_sets(model_dir: Path) -> dict[str, list[Path]]:
    """The pinned sets: :func:`fixed_sets` and (pooled) the model's unseen writers."""
    unseen = unseen_files(model_dir)
    return {**fixed_sets(), UNSEEN: unseen} if unseen else fixed_sets()


def figures(truth: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """macro-F1, undisclosed_ad F1 and recall, and the share of genuine notes labelled ``undisclosed_ad``."""
    from sklearn.metrics import f1_score, recall_score

    genuine = [p for t, p in zip(truth, pred, strict=True) if t == "sharing"]
    return {
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


def intervals(truth: Sequence[str], pred: Sequence[str], *, resamples: int = BOOTSTRAP,
              seed: int = 0) -> dict[str, list[float]]:
    """90% percentile-bootstrap intervals of the :data:`PINNED` figures, resampling the set's notes:
    how far the figure would move on another set of the same size and kind (the notes, not the
    model, vary). Each resample's figures are those of :func:`figures` (scikit-learn's F1 and
    recall, 0 where undefined), computed from its confusion matrix."""
    if not truth:
        return {}
    y = np.array([LABELS.index(t) for t in truth])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(y), size=(resamples, len(y)))
    counts = np.stack([np.bincount(row, minlength=len(y)) for row in draws]).astype(float)
    conf = confusions(y, np.array([LABELS.index(p) for p in pred]), counts)
    f1 = f1_of_confusions(conf)
    ad = LABELS.index("undisclosed_ad")
    true_ad = conf[:, ad].sum(axis=1)
    recall = np.divide(conf[:, ad, ad], true_ad, out=np.zeros(resamples), where=true_ad > 0)
    runs = {"macro_f1": f1.mean(axis=1), "undisclosed_ad_f1": f1[:, ad], "undisclosed_ad_recall": recall}
    return {key: [round(float(np.percentile(v, 5)), 4), round(float(np.percentile(v, 95)), 4)]
            for key, v in runs.items()}


def with_interval(f: dict[str, Any], key: str) -> str:
    """A pinned figure as the README and card show it: ``0.920 (0.897-0.941)`` with its interval."""
    low_high = f.get("interval", {}).get(key)
    return f"{f[key]:.3f}" + (f" ({low_high[0]:.3f}-{low_high[1]:.3f})" if low_high else "")


def measure(model_dir: Path | None = None, sets: dict[str, list[Path]] | None = None) -> dict[str, Any]:
    """Per set, from the combined pipeline on the default path: :func:`figures`; a set of several files
    also per file (``files``: path, sha256 and figures), so a pooled set shows each writer."""
    from classifier.pipeline import Pipeline

    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    pipeline = Pipeline.load(folder)
    out: dict[str, Any] = {"model": pipeline.model_version, "policy": pipeline.policy.version, "sets": {}}
    priors = pipeline.policy.spec.priors
    for name, paths in (sets or eval_sets(folder)).items():
        truth: list[str] = []
        pred: list[str] = []
        scores: list[list[float]] = []
        per_file = []
        for path in paths:
            examples = load_labelled(path)
            verdicts = list(pipeline.pipe([x.note for x in examples]))
            t, p = [x.label for x in examples], [v.label for v in verdicts]
            truth += t
            pred += p
            scores += [[v.model_scores[lab] for lab in LABELS] for v in verdicts]
            if len(paths) > 1:  # a pooled set: each file's hash, first commit and figures
                per_file.append({"path": _shown(path), "sha256": file_sha256(path),
                                 "first_committed": first_committed(path), **figures(t, p)})
        out["sets"][name] = {**figures(truth, pred), "interval": intervals(truth, pred)}
        if priors is not None:
            out["sets"][name]["mix"] = label_mix(truth, np.array(scores), priors.model)
        if per_file:
            out["sets"][name]["files"] = per_file
    return out


def label_mix(truth: Sequence[str], scores: Any, model_prior: dict[str, float]) -> dict[str, Any]:
    """The set's true label mix beside the one ``notecheck mix`` reads from the model's scores alone."""
    from classifier.mix import estimate_mix

    est = estimate_mix(scores, model_prior)
    return {"true": {lab: round(truth.count(lab) / len(truth), 4) for lab in LABELS},
            "estimated": est.mix, "low": est.low, "high": est.high}


def first_committed(path: Path) -> str | None:
    """When git first saw the file (ISO date of the commit that added it); none outside a git checkout."""
    try:
        done = subprocess.run(["git", "log", "--diff-filter=A", "--format=%aI", "--", str(path.resolve())],
                              cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    dates = done.stdout.split()
    return dates[-1] if dates else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def render_unseen(pooled: dict[str, Any], meta: dict[str, Any], *, chosen: bool = False) -> str:
    """The pooled unseen writers' row explained, with each writer's figures (``training.quality``);
    ``chosen``: the model was chosen among retrained candidates with these figures in view."""
    files = pooled["files"]
    dates = [f["first_committed"] for f in files]
    created = datetime.fromisoformat(meta["created"])
    after = all(d is not None and datetime.fromisoformat(d) > created for d in dates)
    lines = [(f"`{UNSEEN}`: the authored files that are not among the model's data (`meta.json`), "
              + ", ".join(Path(f["path"]).stem.removeprefix("seed_") for f in files)
              + ": never trained on, and no calibration, threshold or rule weight was fitted on them"
              + (f"; all were first committed after the model was trained (created {meta['created']}; "
                 f"files first committed {min(dates)} to {max(dates)})" if after else "")
              + (". Their figures were in view when this model was chosen among the retrained candidates "
                 "(model card: How this configuration was chosen)" if chosen else "")
              + ". Per writer:"), "",
             "| writer | n | macro-F1 | undisclosed_ad F1 | undisclosed_ad recall | genuine flagged ad |",
             "|---|---|---|---|---|---|"]
    for f in files:
        lines.append(f"| {Path(f['path']).stem.removeprefix('seed_')} | {f['n']} | {f['macro_f1']:.3f} | "
                     f"{f['undisclosed_ad_f1']:.3f} | {f['undisclosed_ad_recall']:.3f} | "
                     f"{100 * f['genuine_flagged_ad']:.1f}% |")
    return "\n".join(lines)


def render_mix(sets: dict[str, Any], deployment: dict[str, float]) -> str:
    """Each pinned set's true label mix beside the one read from the model's scores (``notecheck mix``);
    ``deployment``: the mix the policy scores for."""
    lines = [("Label mix read from the model's scores alone (`notecheck mix VERDICTS`: EM, no labels; 90% "
             "bootstrap interval), against each set's true mix; the shipped policy scores for "
             f"{100 * deployment['undisclosed_ad']:g}% undisclosed ads and {100 * deployment['declared']:g}% "
             "declared notes unless retuned to another mix:"), "",
             "| set | true undisclosed_ad share | estimated | interval | true declared share | estimated |",
             "|---|---|---|---|---|---|"]
    for name, f in sets.items():
        if "mix" in f:
            m = f["mix"]
            lines.append(f"| {name} | {m['true']['undisclosed_ad']:.3f} | {m['estimated']['undisclosed_ad']:.3f} | "
                         f"{m['low']['undisclosed_ad']:.3f}-{m['high']['undisclosed_ad']:.3f} | "
                         f"{m['true']['declared']:.3f} | {m['estimated']['declared']:.3f} |")
    return "\n".join(lines)


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
