"""The dashboard's charts, drawn by matplotlib (a kept dependency) as inline SVG: interval
(forest) plots, P(best) lines and the causal graph. Text stays text (svg.fonttype none), so
pages are searchable and a browser test can read the labels.

Figures are made with the object API (matplotlib.figure.Figure), never pyplot: pyplot keeps
global state, and the server draws pages on several threads at once."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

rcParams["svg.fonttype"] = "none"
rcParams["font.size"] = 9

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
UP, DOWN, FLAT = "#2ca02c", "#d62728", "#999999"


@dataclass(frozen=True)
class Interval:
    label: str
    mean: float
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    weight: float
    label: str
    lower: float | None = None
    upper: float | None = None


def _svg(fig: Figure, css_class: str) -> str:
    """The figure as an inline <svg> element with `css_class` (no XML prolog)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    return text.replace("<svg ", f'<svg class="{css_class}" role="img" ', 1)


def interval_plot(
    rows: Sequence[Interval], *, lo: float = 0.0, hi: float = 1.0, ref: float | None = None
) -> str:
    """A forest plot: one row per value (first on top), the mean as a dot and the interval
    as a bar; `ref` draws a dashed reference line (e.g. 1 for odds ratios)."""
    fig = Figure(figsize=(6.4, 0.3 + 0.24 * max(len(rows), 1)))
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows, strict=True):
        if r.lower is not None and r.upper is not None:
            ax.plot([r.lower, r.upper], [y, y], color=PALETTE[0], linewidth=2.5, alpha=0.45)
        ax.plot([r.mean], [y], "o", color=PALETTE[0], markersize=4)
    if ref is not None:
        ax.axvline(ref, color="#888", linestyle="--", linewidth=0.8)
    ax.set_yticks(ys, [r.label for r in rows])
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="x", color="#eee")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, "chart interval-plot")


def line_chart(series: dict[str, list[tuple[str, float]]], *, threshold: float = 0.9) -> str:
    """Lines over ordered x labels (e.g. P(best) per arm per analysis day), y in [0, 1],
    with a dashed line at `threshold`."""
    xs = sorted({str(x) for pts in series.values() for x, _ in pts})
    fig = Figure(figsize=(6.4, 2.3))
    ax = fig.add_subplot()
    for k, (name, pts) in enumerate(sorted(series.items())):
        ax.plot(
            [xs.index(str(x)) for x, _ in pts],
            [v for _, v in pts],
            marker="o",
            markersize=3,
            color=PALETTE[k % len(PALETTE)],
            label=name,
            gid="series",
        )
    ax.axhline(threshold, color="#888", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("P(best)")
    if xs:
        ticks = sorted({0, len(xs) - 1})
        ax.set_xticks(ticks, [xs[i] for i in ticks])
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, "chart line-chart")


def _colour(e: Edge) -> str:
    return UP if e.weight > 0 else (DOWN if e.weight < 0 else FLAT)


def _unsure(e: Edge) -> bool:
    return e.lower is not None and e.upper is not None and e.lower <= 0 <= e.upper


def causal_graph(effects: Sequence[Edge], pairs: Sequence[Edge]) -> str:
    """Elements (left) -> metrics (right) from experiments' causal effects; element-element
    interaction arcs on the left. Green raises, red lowers; width grows with |effect|;
    dashed edges have an interval that spans zero."""
    elements = sorted(
        {e.source for e in effects} | {p.source for p in pairs} | {p.target for p in pairs}
    )
    metrics = sorted({e.target for e in effects})
    n = max(len(elements), len(metrics), 1)
    fig = Figure(figsize=(8.2, 0.6 + 0.38 * n))
    ax = fig.add_subplot()
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(-0.8, n - 0.2)
    ax.axis("off")
    ey = {name: n - 1 - i for i, name in enumerate(elements)}
    my = {name: n - 1 - i for i, name in enumerate(metrics)}
    scale = max([abs(e.weight) for e in (*effects, *pairs)] + [1e-9])
    ax.text(0, n - 0.3, "elements", ha="right", weight="bold")
    ax.text(1, n - 0.3, "metrics", ha="left", weight="bold")

    def arrow(x1: float, y1: float, x2: float, y2: float, e: Edge, rad: float, gid: str) -> None:
        ax.add_patch(
            FancyArrowPatch(
                (x1, y1),
                (x2, y2),
                connectionstyle=f"arc3,rad={rad}",
                arrowstyle="-|>" if gid == "effect" else "-",
                mutation_scale=10,
                color=_colour(e),
                linewidth=1 + 4 * abs(e.weight) / scale,
                linestyle="--" if _unsure(e) else "-",
                alpha=0.8,
                gid=f"edge-{gid}",
            )
        )

    for e in effects:
        y1, y2 = ey[e.source], my[e.target]
        arrow(0.03, y1, 0.97, y2, e, 0.0, "effect")
        ax.text(0.5, (y1 + y2) / 2 + 0.12, e.label, ha="center", fontsize=8)
    for p in pairs:
        y1, y2 = ey[p.source], ey[p.target]
        arrow(0.03, y1, 0.03, y2, p, -0.5 if y1 > y2 else 0.5, "interaction")
    for name, y in ey.items():
        ax.plot([0], [y], "o", color="#444", markersize=6)
        ax.text(-0.04, y, name, ha="right", va="center")
    for name, y in my.items():
        ax.plot([1], [y], "s", color="#444", markersize=6)
        ax.text(1.04, y, name, ha="left", va="center")
    return _svg(fig, "chart causal-graph")


def fmt(v: object, digits: int = 3) -> str:
    """A number for a table cell ('-' for missing / NaN)."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)
