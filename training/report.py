"""A self-contained HTML evaluation report: metrics per mode, confusion matrix, PR curves,
reliability diagram and the worst errors with their text. Plots are inline SVG (no matplotlib)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.pipeline import Pipeline
from classifier.types import LABELS
from training.data import Example
from training.evaluate import pr_curve, reliability

W, H, PAD = 320, 240, 36


def _svg(body: str, title: str) -> str:
    return (f'<figure><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
            f'aria-label="{html.escape(title)}">{body}</svg><figcaption>{html.escape(title)}</figcaption></figure>')


def _axes(xlabel: str, ylabel: str) -> str:
    x0, y0, x1, y1 = PAD, H - PAD, W - 10, 10
    ticks = "".join(
        f'<text x="{x0 + t * (x1 - x0):.0f}" y="{y0 + 14}" font-size="9" text-anchor="middle">{t:.1f}</text>'
        f'<text x="{x0 - 4}" y="{y0 - t * (y0 - y1) + 3:.0f}" font-size="9" text-anchor="end">{t:.1f}</text>'
        for t in (0.0, 0.5, 1.0)
    )
    return (f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>'
            f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>{ticks}'
            f'<text x="{(x0 + x1) / 2}" y="{H - 4}" font-size="10" text-anchor="middle">{xlabel}</text>'
            f'<text x="10" y="{(y0 + y1) / 2}" font-size="10" text-anchor="middle" '
            f'transform="rotate(-90 10 {(y0 + y1) / 2})">{ylabel}</text>')


def _xy(x: float, y: float) -> tuple[float, float]:
    return PAD + x * (W - 10 - PAD), (H - PAD) - y * (H - PAD - 10)


def _polyline(xs: Sequence[float], ys: Sequence[float], color: str) -> str:
    pts = " ".join("{:.1f},{:.1f}".format(*_xy(x, y)) for x, y in zip(xs, ys, strict=True))
    return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>'


def confusion_svg(matrix: list[list[int]]) -> str:
    cell, left, top = 64, 110, 40
    peak = max(max(row) for row in matrix) or 1
    parts = []
    for i, row in enumerate(matrix):
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" font-size="10" '
                     f'text-anchor="end">{LABELS[i]}</text>')
        for j, v in enumerate(row):
            shade = int(255 - 180 * v / peak)
            parts.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" height="{cell}" '
                         f'fill="rgb({shade},{shade},255)" stroke="#fff"/>'
                         f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2 + 4}" '
                         f'font-size="12" text-anchor="middle">{v}</text>')
    for j, label in enumerate(LABELS):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" font-size="9" '
                     f'text-anchor="middle">{label}</text>')
    return (f'<figure><svg viewBox="0 0 {left + 3 * cell + 10} {top + 3 * cell + 10}" width="{left + 3 * cell + 10}" '
            f'height="{top + 3 * cell + 10}">{"".join(parts)}</svg>'
            f"<figcaption>confusion (rows = truth, columns = predicted)</figcaption></figure>")


def pr_svg(proba: np.ndarray, truth: Sequence[str]) -> str:
    body = _axes("recall", "precision")
    legend = []
    for k, (name, scores, positive, color) in enumerate((
        ("undisclosed_ad", proba[:, 1], np.array([t == "undisclosed_ad" for t in truth]), "#c0392b"),
        ("commercial (ad or declared)", 1 - proba[:, 0], np.array([t != "sharing" for t in truth]), "#2c7fb8"),
    )):
        precision, recall, ap = pr_curve(scores, positive)
        body += _polyline(list(recall), list(precision), color)
        legend.append(f'<text x="{PAD + 8}" y="{H - PAD - 20 - 12 * k}" font-size="9" fill="{color}">'
                      f"{html.escape(name)} AP={ap:.3f}</text>")
    return _svg(body + "".join(legend), "precision-recall (combined scores)")


def reliability_svg(proba: np.ndarray, truth: Sequence[str]) -> str:
    body = _axes("confidence", "accuracy") + _polyline([0, 1], [0, 1], "#aaa")
    for b in reliability(proba, truth):
        x0, y0 = _xy(b["lo"], 0)
        x1, y1 = _xy(b["hi"], b["accuracy"])
        body += (f'<rect x="{x0 + 1:.1f}" y="{y1:.1f}" width="{x1 - x0 - 2:.1f}" height="{y0 - y1:.1f}" '
                 f'fill="#74a9cf" opacity="0.8"><title>n={b["n"]}</title></rect>')
    return _svg(body, "reliability (top label, combined scores)")


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
