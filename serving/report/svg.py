"""The project's one plotting module: small inline SVG charts (no plotting library, no script).

For the compliance report: stacked horizontal bars, stacked columns over time and plain horizontal
bars. For the evaluation report (``training.report``): a confusion matrix, precision-recall curves
and a reliability diagram on unit axes. Every label is HTML-escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["COLORS", "bars", "confusion_matrix", "pr_curves", "reliability_bars", "stacked_bars",
           "stacked_columns"]

COLORS = {
    "sharing": "#4f9a6b", "undisclosed_ad": "#d1495b", "declared": "#3d7ab8",
    "pass": "#9cc3a8", "review": "#edae49", "block": "#c0392b",
}
_FONT = 'font-family="inherit" font-size="12"'

Segment = tuple[str, int]


def _svg(width: int, height: int, title: str, body: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>{body}</svg>')


def _legend(names: Sequence[str], x: float, y: float) -> str:
    parts = []
    for name in names:
        parts.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" rx="2" '
                     f'fill="{COLORS.get(name, "#888")}"/><text x="{x + 14:.0f}" y="{y:.0f}" '
                     f'{_FONT} fill="#333">{escape(name)}</text>')
        x += 24 + 7.5 * len(name)
    return "".join(parts)


def stacked_bars(rows: Sequence[tuple[str, Sequence[Segment]]], title: str,
                 width: int = 640) -> str:
    """One horizontal bar per row, split into coloured segments (colour by segment name), the
    row's total at its end."""
    left, right, bar, gap, top = 130, 70, 22, 10, 30
    names = list(dict.fromkeys(name for _, segs in rows for name, _ in segs))
    peak = max((sum(v for _, v in segs) for _, segs in rows), default=0) or 1
    scale = (width - left - right) / peak
    parts = [_legend(names, left, 16)]
    for i, (label, segs) in enumerate(rows):
        y = top + i * (bar + gap)
        parts.append(f'<text x="{left - 8}" y="{y + bar / 2 + 4:.0f}" text-anchor="end" {_FONT} '
                     f'fill="#333">{escape(label)}</text>')
        x = float(left)
        for name, value in segs:
            w = value * scale
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" '
                             f'fill="{COLORS.get(name, "#888")}"><title>{escape(label)} · '
                             f'{escape(name)}: {value}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 6:.0f}" y="{y + bar / 2 + 4:.0f}" {_FONT} fill="#555">'
                     f'{sum(v for _, v in segs):,}</text>')
    height = top + len(rows) * (bar + gap) + 4
    return _svg(width, height, title, "".join(parts))


def stacked_columns(periods: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
                    title: str, width: int = 860, height: int = 260) -> str:
    """One column per period, stacked by series (colour by series name), with a count axis."""
    left, right, top, bottom = 48, 12, 28, 44
    totals = [sum(values[i] for _, values in series) for i in range(len(periods))]
    peak = max(totals, default=0) or 1
    plot_h, plot_w = height - top - bottom, width - left - right
    step = plot_w / max(1, len(periods))
    col = max(2.0, min(40.0, step * 0.7))
    parts = [_legend([name for name, _ in series], left, 16)]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#e3e3e3"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'{_FONT} fill="#777">{round(peak * frac):,}</text>')
    every = max(1, len(periods) // 16)
    for i, period in enumerate(periods):
        x = left + i * step + (step - col) / 2
        y = float(top + plot_h)
        for name, values in series:
            h = plot_h * values[i] / peak
            if h > 0:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{col:.1f}" height="{h:.1f}" '
                             f'fill="{COLORS.get(name, "#888")}"><title>{escape(period)} · '
                             f'{escape(name)}: {values[i]}</title></rect>')
        if i % every == 0:
            cx = x + col / 2
            parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                         f'font-size="11" fill="#555">{escape(period)}</text>')
    return _svg(width, height, title, "".join(parts))


def bars(items: Sequence[tuple[str, int]], title: str, color: str = "#d1495b",
         width: int = 640) -> str:
    """Plain horizontal bars with the value at the end (for top-N rankings)."""
    left, right, bar, gap, top = 170, 50, 18, 8, 8
    peak = max((v for _, v in items), default=0) or 1
    scale = (width - left - right) / peak
    parts = []
    for i, (label, value) in enumerate(items):
        y = top + i * (bar + gap)
        shown = label if len(label) <= 14 else label[:13] + "…"
        parts.append(f'<text x="{left - 8}" y="{y + bar / 2 + 4:.0f}" text-anchor="end" {_FONT} '
                     f'fill="#333">{escape(shown)}</text><rect x="{left}" y="{y}" '
                     f'width="{max(1.0, value * scale):.1f}" height="{bar}" rx="2" fill="{color}">'
                     f'<title>{escape(label)}: {value}</title></rect><text '
                     f'x="{left + value * scale + 6:.0f}" y="{y + bar / 2 + 4:.0f}" {_FONT} '
                     f'fill="#555">{value:,}</text>')
    height = top + len(items) * (bar + gap) + 4
    return _svg(width, height, title, "".join(parts))


# -- evaluation plots on unit axes (0..1 x 0..1) -----------------------------------------------------

_UW, _UH, _UPAD = 320, 240, 36

Curve = tuple[str, Sequence[float], Sequence[float], float, str]  # name, xs, ys, AP, colour


def _unit_figure(body: str, title: str) -> str:
    return (f'<figure><svg viewBox="0 0 {_UW} {_UH}" width="{_UW}" height="{_UH}" role="img" '
            f'aria-label="{escape(title)}">{body}</svg><figcaption>{escape(title)}</figcaption>'
            f'</figure>')


def _unit_axes(xlabel: str, ylabel: str) -> str:
    x0, y0, x1, y1 = _UPAD, _UH - _UPAD, _UW - 10, 10
    ticks = "".join(
        f'<text x="{x0 + t * (x1 - x0):.0f}" y="{y0 + 14}" font-size="9" text-anchor="middle">'
        f'{t:.1f}</text>'
        f'<text x="{x0 - 4}" y="{y0 - t * (y0 - y1) + 3:.0f}" font-size="9" text-anchor="end">'
        f'{t:.1f}</text>'
        for t in (0.0, 0.5, 1.0)
    )
    return (f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>'
            f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>{ticks}'
            f'<text x="{(x0 + x1) / 2}" y="{_UH - 4}" font-size="10" text-anchor="middle">'
            f'{xlabel}</text>'
            f'<text x="10" y="{(y0 + y1) / 2}" font-size="10" text-anchor="middle" '
            f'transform="rotate(-90 10 {(y0 + y1) / 2})">{ylabel}</text>')


def _unit_xy(x: float, y: float) -> tuple[float, float]:
    return _UPAD + x * (_UW - 10 - _UPAD), (_UH - _UPAD) - y * (_UH - _UPAD - 10)


def _unit_polyline(xs: Sequence[float], ys: Sequence[float], color: str) -> str:
    pts = " ".join("{:.1f},{:.1f}".format(*_unit_xy(x, y)) for x, y in zip(xs, ys, strict=True))
    return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>'


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """A shaded count matrix, rows = truth and columns = predicted, in ``labels`` order."""
    cell, left, top = 64, 110, 40
    n = len(labels)
    peak = max((max(row) for row in matrix), default=0) or 1
    parts = []
    for i, row in enumerate(matrix):
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" font-size="10" '
                     f'text-anchor="end">{escape(labels[i])}</text>')
        for j, v in enumerate(row):
            shade = int(255 - 180 * v / peak)
            parts.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" '
                         f'height="{cell}" fill="rgb({shade},{shade},255)" stroke="#fff"/>'
                         f'<text x="{left + j * cell + cell / 2}" '
                         f'y="{top + i * cell + cell / 2 + 4}" font-size="12" '
                         f'text-anchor="middle">{v}</text>')
    for j, label in enumerate(labels):
        parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" font-size="9" '
                     f'text-anchor="middle">{escape(label)}</text>')
    w, h = left + n * cell + 10, top + n * cell + 10
    return (f'<figure><svg viewBox="0 0 {w} {h}" width="{w}" height="{h}">{"".join(parts)}</svg>'
            f"<figcaption>confusion (rows = truth, columns = predicted)</figcaption></figure>")


def pr_curves(curves: Sequence[Curve], title: str) -> str:
    """Precision (y) over recall (x), one line per curve, its average precision in the legend;
    each curve is ``(name, recall, precision, ap, colour)``."""
    body = _unit_axes("recall", "precision")
    legend = []
    for k, (name, recall, precision, ap, color) in enumerate(curves):
        body += _unit_polyline(list(recall), list(precision), color)
        legend.append(f'<text x="{_UPAD + 8}" y="{_UH - _UPAD - 20 - 12 * k}" font-size="9" '
                      f'fill="{color}">{escape(name)} AP={ap:.3f}</text>')
    return _unit_figure(body + "".join(legend), title)


def reliability_bars(bins: Sequence[Mapping[str, float]], title: str) -> str:
    """Accuracy per confidence bin (``lo``, ``hi``, ``accuracy``, ``n``) against the diagonal."""
    body = _unit_axes("confidence", "accuracy") + _unit_polyline([0, 1], [0, 1], "#aaa")
    for b in bins:
        x0, y0 = _unit_xy(b["lo"], 0)
        x1, y1 = _unit_xy(b["hi"], b["accuracy"])
        body += (f'<rect x="{x0 + 1:.1f}" y="{y1:.1f}" width="{x1 - x0 - 2:.1f}" '
                 f'height="{y0 - y1:.1f}" fill="#74a9cf" opacity="0.8"><title>n={b["n"]}</title>'
                 f'</rect>')
    return _unit_figure(body, title)
