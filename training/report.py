"""A self-contained HTML evaluation report: metrics per mode, confusion matrix, PR curves,
reliability diagram and the worst errors with their text. Plots are inline SVG drawn by the one
plotting module, :mod:`serving.report.svg`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.pipeline import Pipeline
from classifier.types import LABELS
from serving.report import svg
from training.data import Example
from training.evaluate import pr_curve, reliability


def confusion_svg(matrix: list[list[int]]) -> str:
    return svg.confusion_matrix(matrix, LABELS)


def pr_svg(proba: np.ndarray, truth: Sequence[str]) -> str:
    curves: list[svg.Curve] = []
    for name, scores, positive, color in (
        ("undisclosed_ad", proba[:, 1], np.array([t == "undisclosed_ad" for t in truth]), "#c0392b"),
        ("commercial (ad or declared)", 1 - proba[:, 0], np.array([t != "sharing" for t in truth]), "#2c7fb8"),
    ):
        precision, recall, ap = pr_curve(scores, positive)
        curves.append((name, list(recall), list(precision), ap, color))
    return svg.pr_curves(curves, "precision-recall (combined scores)")


def reliability_svg(proba: np.ndarray, truth: Sequence[str]) -> str:
    return svg.reliability_bars(reliability(proba, truth), "reliability (top label, combined scores)")


def _metrics_table(report: dict[str, Any]) -> str:
    rows = []
    for mode in ("model", "rules", "combined"):
        m = report[mode]
        pc = m["per_class"]
        rows.append("<tr>" + "".join(f"<td>{v}</td>" for v in (
            mode, m["n"], f"{m['macro_f1']:.3f}", *(f"{pc[lab]['precision']:.3f} / {pc[lab]['recall']:.3f} / "
                                                    f"{pc[lab]['f1']:.3f}" for lab in LABELS),
            f"{m['pr_auc_undisclosed_ad']:.3f}", f"{m['ece']:.3f}")) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("mode", "n", "macro-F1", *(f"{lab} P / R / F1" for lab in LABELS),
                                             "PR-AUC (ad)", "ECE"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(path: Path, examples: Sequence[Example], pipeline: Pipeline, report: dict[str, Any],
                 worst: int = 25) -> Path:
    notes = [x.note for x in examples]
    verdicts = pipeline.score_batch(notes) if notes else []
    truth = [x.label for x in examples]
    proba = np.array([[v.scores[lab] for lab in LABELS] for v in verdicts]).reshape(-1, 3)
    errors = [(1.0 - v.scores[t], x, v) for x, v, t in zip(examples, verdicts, truth, strict=True) if v.label != t]
    errors.sort(key=lambda e: -e[0])
    rows = "".join(
        f"<tr><td>{html.escape(x.note.id)}</td><td>{x.label}</td><td>{v.label}</td>"
        f"<td>{v.scores[v.label]:.2f}</td><td>{html.escape(', '.join(sorted({r.rule for r in v.reasons})))}</td>"
        f"<td class=t>{html.escape((x.note.title + ' ' + x.note.text)[:400])}</td></tr>"
        for _, x, v in errors[:worst]
    )
    doc = f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>notecheck evaluation</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;max-width:1200px}}table{{border-collapse:collapse;margin:8px 0}}
td,th{{border:1px solid #ccc;padding:4px 6px;font-size:13px;vertical-align:top}}.t{{max-width:560px}}
figure{{display:inline-block;margin:8px}}figcaption{{font-size:12px;text-align:center}}</style></head><body>
<h1>notecheck evaluation</h1>
<p>model <code>{html.escape(pipeline.model_version)}</code>, policy <code>{html.escape(pipeline.policy.version)}</code>,
{len(examples)} labelled notes.</p>
<h2>Metrics</h2>{_metrics_table(report)}
<h2>Plots (combined pipeline)</h2>
{confusion_svg(report["combined"]["confusion"]["matrix"])}{pr_svg(proba, truth) if len(truth) else ""}
{reliability_svg(proba, truth) if len(truth) else ""}
<h2>Worst errors (most confident wrong verdicts)</h2>
<table><tr><th>id</th><th>truth</th><th>predicted</th><th>score</th><th>rules</th><th>text</th></tr>{rows}</table>
</body></html>"""
    Path(path).write_text(doc, "utf-8")
    return Path(path)
