"""Growth: each in-database path at three sizes, its time against size on log-log axes.

`python -m bench --growth` runs every selected batch benchmark at the sizes of `--growth-scale`
times its base size (for instance 0.01 0.1 1: 10K, 100K and 1M reward rows), prints each
metric's growth exponent (the least-squares slope of log time on log size: 1 is linear, 2
quadratic) for the project and its alternative, and writes growth.png next to bench.json. A
path growing worse than linearly shows up as an exponent well above 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from bench.harness import BenchResult


@dataclass
class Series:
    """One metric of one benchmark over the sizes: project and alternative seconds."""

    benchmark: str
    metric: str
    size_name: str
    sizes: list[int] = field(default_factory=list)
    project: list[float] = field(default_factory=list)
    alternative: list[float | None] = field(default_factory=list)

    def exponent(self, which: str) -> float | None:
        ys = self.project if which == "project" else self.alternative
        pts = [(x, y) for x, y in zip(self.sizes, ys, strict=True) if y is not None and y > 0]
        if len(pts) < 2:
            return None
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        return float(np.polyfit(x, y, 1)[0])

    def to_json(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "metric": self.metric,
            "size_name": self.size_name,
            "sizes": self.sizes,
            "project_s": self.project,
            "alternative_s": self.alternative,
            "project_exponent": self.exponent("project"),
            "alternative_exponent": self.exponent("alternative"),
        }


def run(
    name: str,
    size_name: str,
    base: int,
    scales: Sequence[float],
    runner: Callable[[int], BenchResult],
) -> list[Series]:
    """Run `runner` at every scaled size; one Series per row of its result (time rows only)."""
    series: dict[str, Series] = {}
    for scale in scales:
        size = max(1, round(base * scale))
        res = runner(size)
        if res.error:
            raise RuntimeError(f"{name} at {size}: {res.error}")
        for row in res.rows:
            if row.unit not in ("s", "ms"):
                continue
            factor = 1e-3 if row.unit == "ms" else 1.0
            s = series.setdefault(row.metric, Series(name, row.metric, size_name))
            s.sizes.append(size)
            s.project.append((row.project or 0.0) * factor)
            s.alternative.append(None if row.alternative is None else row.alternative * factor)
    return list(series.values())


def format_growth(all_series: Sequence[Series]) -> str:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    lines = ["benchmark  metric  sizes  project s  alternative s  exponent project / alternative"]
    for s in all_series:
        proj = " / ".join(f"{v:.3g}" for v in s.project)
        alt = " / ".join("-" if v is None else f"{v:.3g}" for v in s.alternative)
        sizes = " / ".join(f"{n:,}" for n in s.sizes)
        lines.append(
            f"{s.benchmark}  {s.metric}  {sizes} {s.size_name}  {proj}  {alt}  "
            f"{fmt(s.exponent('project'))} / {fmt(s.exponent('alternative'))}"
        )
    return "\n".join(lines)


def plot(all_series: Sequence[Series], path: Path) -> Path:
    """One panel per series: seconds against size, log-log, project and alternative."""
    n = max(1, len(all_series))
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3.8), squeeze=False)
    for ax, s in zip(axes[0], all_series, strict=False):
        ax.loglog(s.sizes, s.project, "o-", label=f"project (exp. {s.exponent('project'):.2f})")
        alt = [(x, y) for x, y in zip(s.sizes, s.alternative, strict=True) if y]
        if alt:
            ax.loglog(
                [a[0] for a in alt],
                [a[1] for a in alt],
                "s--",
                label=f"alternative (exp. {s.exponent('alternative') or float('nan'):.2f})",
            )
        ax.set_title(f"{s.benchmark}: {s.metric}", fontsize=9)
        ax.set_xlabel(s.size_name)
        ax.set_ylabel("seconds")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
