"""Inline SVG charts (no JavaScript, no image files): interval plots, P(best) lines and the
causal graph. Small and deterministic, so pages render the same in any browser."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


@dataclass(frozen=True)
class Interval:
    label: str
    mean: float
    lower: float | None
    upper: float | None


def _text(x: float, y: float, s: str, **attrs: str) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(s)}</text>'


def interval_plot(
    rows: Sequence[Interval], *, lo: float = 0.0, hi: float = 1.0, width: int = 640
) -> str:
    """A forest plot: one row per value, the mean as a dot and the interval as a bar."""
    label_w, row_h, top = 220, 18, 20
    height = top + row_h * len(rows) + 24
    span = hi - lo or 1.0

    def sx(v: float) -> float:
        return label_w + (min(max(v, lo), hi) - lo) / span * (width - label_w - 20)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'class="chart" role="img">'
    ]
    for k in range(5):
        v = lo + span * k / 4
        x = sx(v)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>'
        )
        parts.append(_text(x, height - 6, f"{v:.2f}", text_anchor="middle", font_size="10"))
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h / 2
        parts.append(_text(label_w - 6, y + 4, r.label, text_anchor="end", font_size="11"))
        if r.lower is not None and r.upper is not None:
            parts.append(
                f'<line x1="{sx(r.lower):.1f}" y1="{y:.1f}" x2="{sx(r.upper):.1f}" y2="{y:.1f}" '
                f'stroke="#1f77b4" stroke-width="3" opacity="0.5"/>'
            )
        parts.append(f'<circle cx="{sx(r.mean):.1f}" cy="{y:.1f}" r="4" fill="#1f77b4"/>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: dict[str, list[tuple[str, float]]], *, width: int = 640, height: int = 220
) -> str:
    """Lines over ordered x labels (e.g. P(best) per arm per analysis day), y in [0, 1]."""
    xs = sorted({x for pts in series.values() for x, _ in pts})
    left, right, top, bottom = 40, 150, 10, 30
    inner_w, inner_h = width - left - right, height - top - bottom

    def sx(x: str) -> float:
        return left + (xs.index(x) / max(len(xs) - 1, 1)) * inner_w

    def sy(v: float) -> float:
        return top + (1.0 - min(max(v, 0.0), 1.0)) * inner_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'class="chart" role="img">'
    ]
    for v in (0.0, 0.5, 0.9, 1.0):
        y = sy(v)
        dash = ' stroke-dasharray="4 3"' if v == 0.9 else ""
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + inner_w}" y2="{y:.1f}" '
            f'stroke="#ccc"{dash}/>'
        )
        parts.append(_text(left - 4, y + 4, f"{v:.1f}", text_anchor="end", font_size="10"))
    if xs:
        parts.append(_text(left, height - 8, xs[0], font_size="10"))
        parts.append(_text(left + inner_w, height - 8, xs[-1], text_anchor="end", font_size="10"))
    for k, (name, pts) in enumerate(sorted(series.items())):
        color = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(v):.1f}" for x, v in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, v in pts:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(v):.1f}" r="2.5" fill="{color}"/>')
        ly = top + 14 * k + 8
        parts.append(
            f'<rect x="{left + inner_w + 10}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
        )
        parts.append(_text(left + inner_w + 24, ly + 1, name, font_size="11"))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    weight: float
    label: str
    lower: float | None = None
    upper: float | None = None


def causal_graph(effects: Sequence[Edge], pairs: Sequence[Edge], *, width: int = 820) -> str:
    """Elements (left) -> metrics (right) from experiments' causal effects; element-element
    interaction arcs on the left. Green raises, red lowers; width grows with |effect|;
    dashed edges have an interval that spans zero."""
    elements = sorted(
        {e.source for e in effects} | {p.source for p in pairs} | {p.target for p in pairs}
    )
    metrics = sorted({e.target for e in effects})
    row_h, top = 34, 30
    height = top + row_h * max(len(elements), len(metrics), 1) + 20
    ex, mx = 300, width - 160
    ey = {n: top + i * row_h for i, n in enumerate(elements)}
    my = {n: top + i * row_h for i, n in enumerate(metrics)}
    scale = max([abs(e.weight) for e in (*effects, *pairs)] + [1e-9])

    def stroke(e: Edge) -> str:
        color = "#2ca02c" if e.weight > 0 else ("#d62728" if e.weight < 0 else "#999")
        w = 1.0 + 5.0 * abs(e.weight) / scale
        unsure = e.lower is not None and e.upper is not None and e.lower <= 0 <= e.upper
        dash = ' stroke-dasharray="6 4"' if unsure else ""
        return f'stroke="{color}" stroke-width="{w:.1f}" fill="none" opacity="0.8"{dash}'

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'class="chart causal-graph" role="img">',
        _text(ex, 14, "elements", text_anchor="end", font_weight="bold", font_size="12"),
        _text(mx, 14, "metrics", font_weight="bold", font_size="12"),
    ]
    for e in effects:
        y1, y2 = ey[e.source], my[e.target]
        parts.append(
            f'<path class="edge effect" d="M{ex + 6},{y1} C{(ex + mx) / 2},{y1} '
            f'{(ex + mx) / 2},{y2} {mx - 6},{y2}" {stroke(e)}>'
            f"<title>{escape(e.label)}</title></path>"
        )
        parts.append(
            _text((ex + mx) / 2, (y1 + y2) / 2 - 4, e.label, text_anchor="middle", font_size="10")
        )
    for p in pairs:
        y1, y2 = ey[p.source], ey[p.target]
        bend = ex + 40 + min(abs(y2 - y1) / 2, 120)
        parts.append(
            f'<path class="edge interaction" d="M{ex + 6},{y1} '
            f'C{bend},{y1} {bend},{y2} {ex + 6},{y2}" '
            f"{stroke(p)}><title>{escape(p.label)}</title></path>"
        )
    for n, y in ey.items():
        parts.append(f'<circle cx="{ex}" cy="{y}" r="6" fill="#444"/>')
        parts.append(_text(ex - 10, y + 4, n, text_anchor="end", font_size="11"))
    for n, y in my.items():
        parts.append(f'<rect x="{mx}" y="{y - 8}" width="12" height="16" fill="#444"/>')
        parts.append(_text(mx + 18, y + 4, n, font_size="11"))
    parts.append("</svg>")
    return "".join(parts)


def fmt(v: object, digits: int = 3) -> str:
    """A number for a table cell ('-' for missing / NaN)."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)
