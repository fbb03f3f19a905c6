"""Metrics for three-label verdicts: per-class P/R/F1, macro-F1, ad-class PR-AUC, confusion, ECE.

Accuracy is reported but never headlined: on real dumps most notes are genuine sharing, so an
always-``sharing`` model already scores high (87% on CHASM). Ad-class F1 and PR-AUC are the numbers
that matter.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.types import LABELS

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scored:
    """Labels predicted for some examples, with the probabilities behind them."""

    y_true: list[str]
    y_pred: list[str]
    proba: FloatArray  # (n, 3) in LABELS order


def confusions(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], weights: FloatArray) -> FloatArray:
    """Confusion matrices ``[row, truth, predicted]`` of label indices ``y`` and ``pred``, one per row of
    ``weights`` (a weight per note: sample weights, bootstrap counts, or both)."""
    k = len(LABELS)
    cells = np.zeros((len(y), k * k))
    cells[np.arange(len(y)), y * k + pred] = 1.0
    out: FloatArray = (np.atleast_2d(weights) @ cells).reshape(-1, k, k)
    return out


def f1_of_confusions(conf: FloatArray) -> FloatArray:
    """Per-label F1 of a stack of confusion matrices (``[..., truth, predicted]``, counts or weights) as
    scikit-learn defines it, 0 where a label is neither true nor predicted (``zero_division=0``)."""
    k = conf.shape[-1]
    tp = conf[..., np.arange(k), np.arange(k)]
    denom = conf.sum(axis=-1) + conf.sum(axis=-2)
    f1: FloatArray = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    return f1


def expected_calibration_error(proba: FloatArray, y_true: Sequence[str], bins: int = 15) -> float:
    """Top-label ECE: |accuracy - confidence| averaged over equal-width confidence bins."""
    if len(y_true) == 0:
        return 0.0
    conf = proba.max(axis=1)
    pred = proba.argmax(axis=1)
    truth = np.array([LABELS.index(y) for y in y_true])
    correct = (pred == truth).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability(proba: FloatArray, y_true: Sequence[str], bins: int = 10) -> list[dict[str, float]]:
    conf = proba.max(axis=1)
    truth = np.array([LABELS.index(y) for y in y_true])
    correct = (proba.argmax(axis=1) == truth).astype(float)
    out = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            out.append({"lo": float(lo), "hi": float(hi), "n": int(m.sum()),
                        "confidence": float(conf[m].mean()), "accuracy": float(correct[m].mean())})
    return out


def pr_curve(scores: FloatArray, positive: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, float]:
    """Precision, recall and average precision (PR-AUC) of ``scores`` for a binary target."""
    order = np.argsort(-scores, kind="stable")
    pos = positive[order].astype(float)
    n_pos = pos.sum()
    if n_pos == 0:
        return np.array([1.0]), np.array([0.0]), 0.0
    tp = np.cumsum(pos)
    precision = tp / np.arange(1, len(pos) + 1)
    recall = tp / n_pos
    ap = float((precision * pos).sum() / n_pos)
    return precision, recall, ap


def metrics(scored: Scored) -> dict[str, Any]:
    y_true, y_pred, proba = scored.y_true, scored.y_pred, scored.proba
    n = len(y_true)
    per_class: dict[str, dict[str, float]] = {}
    for label in LABELS:
        tp = sum(t == label and p == label for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != label and p == label for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == label and p != label for t, p in zip(y_true, y_pred, strict=True))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[label] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    present = [lab for lab in LABELS if per_class[lab]["support"] > 0]
    confusion = [[sum(t == a and p == b for t, p in zip(y_true, y_pred, strict=True)) for b in LABELS]
                 for a in LABELS]
    ad = np.array([t == "undisclosed_ad" for t in y_true])
    _, _, ap_ad = pr_curve(proba[:, LABELS.index("undisclosed_ad")], ad) if n else (None, None, 0.0)
    commercial = np.array([t != "sharing" for t in y_true])
    _, _, ap_commercial = pr_curve(1.0 - proba[:, 0], commercial) if n else (None, None, 0.0)
    return {
        "n": n,
        "accuracy": sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / n if n else 0.0,
        "macro_f1": float(np.mean([per_class[lab]["f1"] for lab in present])) if present else 0.0,
        "per_class": per_class,
        "pr_auc_undisclosed_ad": ap_ad,
        "pr_auc_commercial": ap_commercial,
        "ece": expected_calibration_error(proba, y_true),
        "confusion": {"labels": list(LABELS), "matrix": confusion},
        "flagged_undisclosed_rate": sum(p == "undisclosed_ad" for p in y_pred) / n if n else 0.0,
    }


def genuine_flagged(m: dict[str, Any]) -> float:
    """The share of genuine (``sharing``) notes that a :func:`metrics` result labelled
    ``undisclosed_ad`` (0 when the set has none)."""
    genuine = m["per_class"]["sharing"]["support"]
    return float(m["confusion"]["matrix"][0][1] / genuine) if genuine else 0.0


def format_metrics(name: str, m: dict[str, Any]) -> str:
    lines = [f"== {name} (n={m['n']})"]
    lines.append(f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for label in LABELS:
        c = m["per_class"][label]
        lines.append(f"{label:<16}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>10.3f}{c['support']:>10}")
    lines.append(f"macro-F1 {m['macro_f1']:.3f} | undisclosed_ad F1 {m['per_class']['undisclosed_ad']['f1']:.3f}"
                 f" | PR-AUC(ad) {m['pr_auc_undisclosed_ad']:.3f} | ECE {m['ece']:.3f}"
                 f" | accuracy {m['accuracy']:.3f}")
    lines.append("confusion (rows = truth, cols = predicted " + "/".join(LABELS) + "):")
    for label, row in zip(LABELS, m["confusion"]["matrix"], strict=True):
        lines.append(f"  {label:<16}" + "".join(f"{v:>7}" for v in row))
    if "grounding" in m:
        g = m["grounding"]
        lines.append(f"commercial verdicts {g['commercial']}: grounded in an act {g['grounded']}, "
                     f"the model alone (capped at review) {g['model_alone']}")
    return "\n".join(lines)


def format_errors(m: dict[str, Any]) -> str:
    """The worst errors of a combined evaluation, one line each."""
    lines = [f"worst errors ({len(m.get('worst_errors', []))}, most confident first):"]
    for e in m.get("worst_errors", []):
        lines.append(f"  {e['id']}: {e['truth']} -> {e['predicted']}/{e['decision']} p={e['p']:.2f} "
                     f"[{', '.join(e['rules']) or 'model'}] {e['text'][:100]!r}")
    return "\n".join(lines)
