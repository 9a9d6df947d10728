"""The shared harness: bench databases, timing, result rows, the table and the JSON file.

Every benchmark returns a `BenchResult`: the sizes it ran at, one `Row` per compared
metric (the project's figure, the alternative's figure on the same data in the same run,
and the ratio), details, and notes. Absolute times are reported, never asserted.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from agents import cluster
from agents.migrate import migrate
from agents.settings import ClusterPaths, local_cluster

DB_PREFIX = "genome_bench_"


@dataclass(frozen=True)
class Row:
    """One compared metric. `ratio` > 1 means the project path is better by that factor."""

    metric: str
    unit: str
    project: float | None
    alternative: float | None = None
    alternative_name: str | None = None
    lower_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        p, a = self.project, self.alternative
        if p is None or a is None or p <= 0 or a <= 0:
            return None
        return a / p if self.lower_is_better else p / a

    @property
    def verdict(self) -> str:
        r = self.ratio
        if r is None:
            return "no alternative" if self.alternative_name is None else "not comparable"
        if r >= 1:
            return f"project wins x{r:.2f}"
        worse = (
            "more memory"
            if self.unit == "bytes"
            else "higher"
            if self.unit == "reward"  # regret: lower is better, but it is not a time
            else "slower"
            if self.lower_is_better
            else "lower"
        )
        return f"PROJECT LOSES to {self.alternative_name} (x{1 / r:.2f} {worse})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": self.ratio, "verdict": self.verdict}


@dataclass
class BenchResult:
    name: str
    sizes: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sizes": self.sizes,
            "rows": [r.to_json() for r in self.rows],
            "details": self.details,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "error": self.error,
        }


# -- timing -----------------------------------------------------------------------------


def summarize_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / min / max of durations given in seconds, in milliseconds."""
    if not samples_s:
        raise ValueError("no samples")
    ms = sorted(s * 1000.0 for s in samples_s)

    def pct(q: float) -> float:
        # Nearest-rank percentile: the value below which q of the samples fall.
        k = max(0, min(len(ms) - 1, math.ceil(q * len(ms)) - 1))
        return ms[k]

    return {
        "n": float(len(ms)),
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "mean": statistics.fmean(ms),
        "min": ms[0],
        "max": ms[-1],
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def time_in_rollback(
    dsn: str,
    sql: str,
    params: Sequence[Any] | dict[str, Any],
    repeats: int,
    *,
    warm: bool = False,
) -> tuple[list[float], Any]:
    """Run a state-changing SQL call `repeats` times, each in its own transaction that is
    rolled back, so every run starts from the same data. Returns the durations and the
    first result row. With `warm`, one untimed call first on the same connection (an API
    function on a pooled connection: PL/Python's imports already done in that backend)."""
    durations: list[float] = []
    first: Any = None
    with psycopg.connect(dsn) as conn:
        if warm:
            conn.execute(sql, params).fetchall()
            conn.rollback()
        for i in range(repeats):
            start = time.perf_counter()
            row = conn.execute(sql, params).fetchone()
            durations.append(time.perf_counter() - start)
            conn.rollback()
            if i == 0:
                first = row
    return durations, first


# -- databases --------------------------------------------------------------------------


TEMPLATE = "template"


@dataclass(frozen=True)
class Server:
    """The server the benchmarks run on: the project-local cluster. Database names carry
    the run's tag (genome_bench_<tag>_<name>), so concurrent runs never meet.

    A run migrates one template database (genome_bench_<tag>_template), on the first
    migrated database it needs, and clones it for every other one: CREATE DATABASE ...
    TEMPLATE is a file copy, a migration takes seconds. `close()` drops it at the run's end."""

    paths: ClusterPaths
    tag: str
    work: Path  # where worker logs and the demo's output go
    # Whether this run's template exists; a list so the frozen instance can record it.
    _template: list[str] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def local(cls, work: Path, tag: str | None = None) -> Server:
        paths = local_cluster()
        cluster.up(paths, "postgres")
        return cls(paths, tag or f"{os.getpid()}", work)

    def dbname(self, name: str) -> str:
        return f"{DB_PREFIX}{self.tag}_{name}"

    @property
    def admin_url(self) -> str:
        return self.paths.url("postgres")

    def url(self, dbname: str) -> str:
        return self.paths.url(dbname)

    def create(self, name: str) -> str:
        """A fresh, empty database genome_bench_<name>; returns its URL."""
        dbname = self.dbname(name)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)

    def drop(self, name: str) -> None:
        dbname = self.dbname(name)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def leftovers(self) -> list[str]:
        """Names (without the prefix and tag) of this run's databases that still exist."""
        head = self.dbname("")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1",
                (head,),
            ).fetchall()
        return [r[0].removeprefix(head) for r in rows]

    def template(self) -> str:
        """The run's migrated template database (its name), migrated on the first call
        (virtual time: no pg_cron schedules; a benchmark calls run_job itself)."""
        if not self._template:
            migrate(self.create(TEMPLATE), jobs=False)
            self._template.append(self.dbname(TEMPLATE))
        return self._template[0]

    def migrated(self, name: str) -> str:
        """A fresh migrated database genome_bench_<name>, cloned from the run's template;
        returns its URL. Nobody may be connected to the template meanwhile."""
        template = self.template()
        dbname = self.dbname(name)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
        return self.url(dbname)

    def close(self) -> None:
        """Drop the run's template (the end of a run)."""
        if self._template:
            self.drop(TEMPLATE)
            self._template.clear()

    @contextmanager
    def database(self, name: str, *, schema: bool = True, keep: bool = False) -> Iterator[str]:
        """A fresh bench database (a clone of the migrated template unless schema=False,
        then empty), dropped afterwards."""
        url = self.migrated(name) if schema else self.create(name)
        try:
            yield url
        finally:
            if not keep:
                self.drop(name)


def database_size(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


# -- output -----------------------------------------------------------------------------


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "bytes":
        return f"{v / 1e6:,.1f} MB"
    if abs(v) >= 1000:
        return f"{v:,.0f} {unit}"
    if abs(v) >= 10:
        return f"{v:.1f} {unit}"
    return f"{v:.3g} {unit}"


def format_table(results: Sequence[BenchResult]) -> str:
    header = ("benchmark", "metric", "project", "alternative", "ratio", "verdict")
    lines: list[tuple[str, ...]] = []
    for res in results:
        if res.error:
            lines.append((res.name, "ERROR", res.error[:60], "", "", ""))
        for row in res.rows:
            alt = _fmt(row.alternative, row.unit)
            if row.alternative_name:
                alt = f"{alt} ({row.alternative_name})"
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
            lines.append(
                (res.name, row.metric, _fmt(row.project, row.unit), alt, ratio, row.verdict)
            )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    notes = [f"- {r.name}: {n}" for r in results for n in r.notes]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
