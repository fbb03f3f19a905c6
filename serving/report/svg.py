"""Small inline SVG charts for the report (no plotting library, no script): stacked horizontal
bars, stacked columns over time and plain horizontal bars. Every label is HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["COLORS", "bars", "stacked_bars", "stacked_columns"]

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
