"""The demo report: does Creative Genome learn? Scored against the simulator's truth.

`build_report(conn, history, truth, out_dir)` writes PNGs and a self-contained
out_dir/report.html (images embedded), and returns the headline summary; it prints
nothing. `format_summary(summary)` renders the headline figures as text.

Every section is always present; an empty one says "none yet". A section whose database
object is missing (another part not installed) says so instead of failing the report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import psycopg
from PIL import Image
from scipy.stats import beta as beta_dist

from agents.storage import ImageUnavailable, Store
from sim.history import DayRecord
from sim.market import sync_time
from sim.truth import CONFOUNDED_HOOK, Truth

NONE_YET = "none yet"
ROLLING_DAYS = 7
LAST_DAYS = 30
MABWISER_LABEL = "MABWiser TS per dimension"
GALLERY_PER_STATUS = 8
THUMB_PX = 180


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    body: str


def _query(conn: psycopg.Connection, sql: str, params: Any = None) -> Table | str:
    """Rows of `sql`, or the error's first line when the object is missing or fails."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql, params)
            cols = [d.name for d in cur.description or []]
            return Table(cols, [tuple(r) for r in cur.fetchall()])
    except psycopg.Error as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__


# ----- formatting -----------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dict | list):
        text = json.dumps(v, default=str, sort_keys=True)
        return text if len(text) <= 160 else text[:157] + "..."
    return str(v)


def _html_table(t: Table, highlight: Sequence[bool] | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for i, row in enumerate(t.rows):
        cls = ' class="flag"' if highlight and highlight[i] else ""
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _none_yet(extra: str = "") -> str:
    more = f" <span class='muted'>({html.escape(extra)})</span>" if extra else ""
    return f'<p class="none">{NONE_YET}{more}</p>'


def _unavailable(error: str) -> str:
    return _none_yet(f"not available: {error}")


def _png(fig: Any, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path.name


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


# ----- learning curve and regret ------------------------------------------------------


@dataclass(frozen=True)
class Curves:
    days: list[date]
    v2: np.ndarray  # per day: sum of V2 rewards
    v2_n: np.ndarray
    rnd: np.ndarray
    rnd_n: np.ndarray
    oracle: np.ndarray  # per day: sum of oracle reward over V2's ads
    oracle_mean: np.ndarray  # per day: mean oracle reward over brands that day
    mab: np.ndarray  # per day: sum of the shadow MABWiser policy's rewards
    mab_n: np.ndarray
    mab_oracle: np.ndarray  # per day: sum of oracle reward over MABWiser's ads


def _curves(history: Sequence[DayRecord], brand_index: int | None = None) -> Curves:
    recs = [r for r in history if brand_index is None or r.brand_index == brand_index]
    days = sorted({r.day for r in recs})
    pos = {d: i for i, d in enumerate(days)}
    n = len(days)
    v2, v2n, rnd, rndn, orc, mab, mabn, mab_orc = (np.zeros(n) for _ in range(8))
    orc_sum, orc_cnt = np.zeros(n), np.zeros(n)
    for r in recs:
        i = pos[r.day]
        v2[i] += sum(x for _, x in r.v2_ads)
        v2n[i] += len(r.v2_ads)
        rnd[i] += sum(r.random_rewards)
        rndn[i] += len(r.random_rewards)
        orc[i] += r.oracle_reward * len(r.v2_ads)
        orc_sum[i] += r.oracle_reward
        orc_cnt[i] += 1
        mab[i] += sum(r.mabwiser_rewards)
        mabn[i] += len(r.mabwiser_rewards)
        mab_orc[i] += r.oracle_reward * len(r.mabwiser_rewards)
    return Curves(
        days, v2, v2n, rnd, rndn, orc, orc_sum / np.maximum(orc_cnt, 1), mab, mabn, mab_orc
    )


def _rolling(total: np.ndarray, count: np.ndarray, k: int) -> np.ndarray:
    kernel = np.ones(k)
    s = np.convolve(total, kernel)[: len(total)]
    c = np.convolve(count, kernel)[: len(count)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1e-12), np.nan)


def _plot_learning(history: Sequence[DayRecord], truth: Truth, path: Path) -> str:
    groups: list[tuple[str, int | None]] = [("all brands", None)]
    groups += [(truth.brands[i].name, i) for i in sorted({r.brand_index for r in history})]
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4.6 * len(groups), 3.6), squeeze=False, sharey=True
    )
    for ax, (label, idx) in zip(axes[0], groups, strict=True):
        c = _curves(history, idx)
        x = np.array(c.days, dtype="datetime64[D]")
        ax.plot(x, _rolling(c.v2, c.v2_n, ROLLING_DAYS), label="Creative Genome (V2)", lw=2)
        if c.mab_n.sum() > 0:
            ax.plot(x, _rolling(c.mab, c.mab_n, ROLLING_DAYS), label=MABWISER_LABEL, lw=1.5)
        ax.plot(x, _rolling(c.rnd, c.rnd_n, ROLLING_DAYS), label="random elements", lw=1.5)
        ax.plot(x, c.oracle_mean, label="oracle", ls="--", color="k", lw=1)
        ax.set_title(label, fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"true reward ({ROLLING_DAYS}-day rolling mean)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    return _png(fig, path)


def _plot_regret(history: Sequence[DayRecord], path: Path) -> str:
    c = _curves(history)
    x = np.array(c.days, dtype="datetime64[D]")
    # Regret per ad: oracle reward minus the ad's true reward.
    orc_r = np.zeros(len(c.days))
    for r in history:
        orc_r[c.days.index(r.day)] += r.oracle_reward * len(r.random_rewards)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(x, np.cumsum(c.oracle - c.v2), label="Creative Genome (V2)", lw=2)
    if c.mab_n.sum() > 0:
        ax.plot(x, np.cumsum(c.mab_oracle - c.mab), label=MABWISER_LABEL, lw=1.5)
    ax.plot(x, np.cumsum(orc_r - c.rnd), label="random elements", lw=1.5)
    ax.set_ylabel("cumulative regret (sum over ads)")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig, path)


def _headline(history: Sequence[DayRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "days": len({r.day for r in history}),
        "ads_planned": sum(r.planned for r in history),
        "ads_approved": sum(r.approved for r in history),
        "ads_launched": sum(r.launched for r in history),
        "v2_pct_of_oracle_last30": None,
        "random_pct_of_oracle_last30": None,
        "v2_mean_reward_last30": None,
        "random_mean_reward_last30": None,
        "oracle_mean_reward_last30": None,
        "regret_v2": 0.0,
        "regret_random": 0.0,
        "regret_ratio_vs_random": None,
        "mabwiser_pct_of_oracle_last30": None,
        "mabwiser_mean_reward_last30": None,
        "regret_mabwiser": None,
        "regret_ratio_vs_mabwiser": None,
        "mabwiser_regret_ratio_vs_random": None,
    }
    if not history:
        return out
    last = max(r.day for r in history)
    recent = [r for r in history if r.day > last - timedelta(days=LAST_DAYS)]
    v2 = [x for r in recent for _, x in r.v2_ads]
    v2_orc = [r.oracle_reward for r in recent for _ in r.v2_ads]
    rnd = [x for r in recent for x in r.random_rewards]
    rnd_orc = [r.oracle_reward for r in recent for _ in r.random_rewards]
    if v2:
        out["v2_mean_reward_last30"] = float(np.mean(v2))
        out["v2_pct_of_oracle_last30"] = 100.0 * sum(v2) / sum(v2_orc)
        out["oracle_mean_reward_last30"] = float(np.mean(v2_orc))
    if rnd:
        out["random_mean_reward_last30"] = float(np.mean(rnd))
        out["random_pct_of_oracle_last30"] = 100.0 * sum(rnd) / sum(rnd_orc)
    out["regret_v2"] = float(sum(r.oracle_reward - x for r in history for _, x in r.v2_ads))
    out["regret_random"] = float(
        sum(r.oracle_reward - x for r in history for x in r.random_rewards)
    )
    if out["regret_random"] > 0:
        out["regret_ratio_vs_random"] = out["regret_v2"] / out["regret_random"]
    # The shadow MABWiser policy (sim.policies.DemoShadow), when the run had it.
    mab = [x for r in recent for x in r.mabwiser_rewards]
    if mab:
        mab_orc = [r.oracle_reward for r in recent for _ in r.mabwiser_rewards]
        out["mabwiser_mean_reward_last30"] = float(np.mean(mab))
        out["mabwiser_pct_of_oracle_last30"] = 100.0 * sum(mab) / sum(mab_orc)
        out["regret_mabwiser"] = float(
            sum(r.oracle_reward - x for r in history for x in r.mabwiser_rewards)
        )
        if out["regret_mabwiser"] > 0:
            out["regret_ratio_vs_mabwiser"] = out["regret_v2"] / out["regret_mabwiser"]
        if out["regret_random"] > 0:
            out["mabwiser_regret_ratio_vs_random"] = out["regret_mabwiser"] / out["regret_random"]
    out.update(_metric_headline(history, recent))
    return out


# The policies' field of per-ad objective metrics in a DayRecord.
_METRIC_FIELDS = {"v2": "v2_metrics", "random": "random_metrics", "mabwiser": "mabwiser_metrics"}


def _metric_headline(
    history: Sequence[DayRecord], recent: Sequence[DayRecord]
) -> dict[str, float | None]:
    """The policies on the brand's objective metric (CTR; ROAS for sales: what the learning
    benchmark scores by), each ad as a share of its brand's best combination, so brands of
    different metrics weigh alike: last-30-day % of the oracle and regret (sum of 1 - share)
    ratios. The composite reward above is clipped against random ads' own quartiles, which
    keeps random near half the oracle; the raw metric spreads the policies apart."""

    def shares(records: Sequence[DayRecord], name: str) -> list[float]:
        return [x / r.oracle_metric for r in records if r.oracle_metric for x in getattr(r, name)]

    out: dict[str, float | None] = {}
    # Per policy its cumulative regret over the whole history; None when it has no ads.
    regret: dict[str, float | None] = {}
    for policy, name in _METRIC_FIELDS.items():
        last, every = shares(recent, name), shares(history, name)
        out[f"{policy}_pct_of_oracle_metric_last30"] = (
            100.0 * float(np.mean(last)) if last else None
        )
        regret[policy] = float(sum(1.0 - x for x in every)) if every else None
        out[f"metric_regret_{policy}"] = regret[policy]
    for policy, other in (("v2", "random"), ("v2", "mabwiser"), ("mabwiser", "random")):
        mine, theirs = regret[policy], regret[other]
        out[f"metric_regret_ratio_{policy}_vs_{other}"] = (
            mine / theirs if mine is not None and theirs else None
        )
    return out


# ----- what the genome believes vs the truth -------------------------------------------


def _brand_ids(
    conn: psycopg.Connection, truth: Truth, history: Sequence[DayRecord]
) -> dict[int, str]:
    ids = {r.brand_index: r.brand_id for r in history}
    t = _query(
        conn,
        "SELECT slug, id::text FROM public.brands WHERE slug = ANY(%s)",
        ([b.slug for b in truth.brands],),
    )
    if isinstance(t, Table):
        by_slug = dict(t.rows)
        for b in truth.brands:
            if b.index not in ids and b.slug in by_slug:
                ids[b.index] = by_slug[b.slug]
    return dict(sorted(ids.items()))


@dataclass(frozen=True)
class DimensionView:
    brand_index: int
    dimension: str
    values: list[str]
    post_mean: list[float | None]
    lo: list[float | None]
    hi: list[float | None]
    n: list[int]
    true_reward: list[float]
    top_learned: str | None
    top_true: str

    @property
    def match(self) -> bool | None:
        return None if self.top_learned is None else self.top_learned == self.top_true


def _dimension_views(
    conn: psycopg.Connection, truth: Truth, brand_ids: dict[int, str]
) -> list[DimensionView] | str:
    if not brand_ids:
        return []
    t = _query(
        conn,
        """
        SELECT brand_id::text, product_id IS NULL AS brand_level, element_dimension,
               element_value, posterior_alpha, posterior_beta, n_rewards
        FROM genome.creative_element_scores
        WHERE brand_id = ANY(%s::uuid[])
        """,
        (list(brand_ids.values()),),
    )
    if isinstance(t, str):
        return t
    # Prefer brand-level rows; fall back to product-level rows (pooled) where none.
    acc: dict[tuple[str, str, str], list[float]] = {}
    levels: dict[tuple[str, str], bool] = {}
    for bid, brand_level, dim, *_ in t.rows:
        levels[(bid, dim)] = levels.get((bid, dim), False) or brand_level
    for bid, brand_level, dim, val, a, b, n in t.rows:
        if brand_level != levels[(bid, dim)]:
            continue
        cur = acc.setdefault((bid, dim, val), [0.0, 0.0, 0.0])
        cur[0] += float(a)
        cur[1] += float(b)
        cur[2] += float(n or 0)
    views = []
    for idx, bid in brand_ids.items():
        best = truth.best_values(idx)
        for dim, values in truth.dimensions.items():
            tr = truth.value_rewards(idx, dim)
            means: list[float | None] = []
            lo: list[float | None] = []
            hi: list[float | None] = []
            ns: list[int] = []
            for v in values:
                s = acc.get((bid, dim, v))
                if s is None:
                    means.append(None)
                    lo.append(None)
                    hi.append(None)
                    ns.append(0)
                    continue
                a, b = s[0], s[1]
                means.append(a / (a + b))
                lo.append(float(beta_dist.ppf(0.025, a, b)))
                hi.append(float(beta_dist.ppf(0.975, a, b)))
                ns.append(int(s[2]))
            known = [m for m in means if m is not None]
            top = None
            if known and max(known) - min(known) > 1e-9:
                top = values[int(np.nanargmax([np.nan if m is None else m for m in means]))]
            views.append(
                DimensionView(
                    idx,
                    dim,
                    list(values),
                    means,
                    lo,
                    hi,
                    ns,
                    [tr[v] for v in values],
                    top,
                    best[dim],
                )
            )
    return views


def _plot_posteriors(views: list[DimensionView], truth: Truth, brand_index: int, path: Path) -> str:
    vs = [v for v in views if v.brand_index == brand_index]
    fig, axes = plt.subplots(
        1, len(vs), figsize=(3.9 * len(vs), 4.4), squeeze=False, layout="constrained"
    )
    for ax, v in zip(axes[0], vs, strict=True):
        y = np.arange(len(v.values))
        has = [m is not None for m in v.post_mean]
        m = np.array([x if x is not None else np.nan for x in v.post_mean])
        lo = np.array([x if x is not None else np.nan for x in v.lo])
        hi = np.array([x if x is not None else np.nan for x in v.hi])
        if any(has):
            ax.errorbar(
                m,
                y,
                xerr=[m - lo, hi - m],
                fmt="o",
                ms=4,
                capsize=2,
                label="posterior mean, 95% interval",
            )
        ax.scatter(
            v.true_reward, y, marker="x", color="crimson", zorder=3, label="true mean reward"
        )
        ax.set_yticks(y, v.values, fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_title(
            v.dimension + (" (strongest)" if v.dimension == truth.strongest_dimension else ""),
            fontsize=9,
        )
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6, loc="lower left")
    fig.suptitle(truth.brands[brand_index].name, fontsize=10)
    return _png(fig, path)


# ----- gallery -------------------------------------------------------------------------


def _thumb(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except (OSError, ValueError):
        return None
    return base64.b64encode(buf.getvalue()).decode()


def _gallery(conn: psycopg.Connection, storage: Path) -> tuple[str, int]:
    t = _query(
        conn,
        """
        SELECT id::text, storage_path, final_status, element_tags, brand
        FROM (
            SELECT g.id, g.storage_path, g.final_status, g.element_tags, b.name AS brand,
                   row_number() OVER (PARTITION BY g.final_status
                                      ORDER BY g.created_at DESC, g.id) AS k
            FROM public.generated_ads AS g
            JOIN public.ad_runs AS r ON r.id = g.ad_run_id
            JOIN public.products AS p ON p.id = r.product_id
            JOIN public.brands AS b ON b.id = p.brand_id
        ) AS x
        WHERE k <= %s
        ORDER BY final_status, id
        """,
        (GALLERY_PER_STATUS,),
    )
    if isinstance(t, str):
        return _unavailable(t), 0
    if not t.rows:
        return _none_yet("no generated ads"), 0
    cards = []
    store = Store.directory(storage)
    for ad_id, key, status, tags, brand in t.rows:
        # storage_path is app-written: only images inside the store are read
        # (docs/attacks.md#agents-and-the-queue).
        try:
            data = _thumb(store.read(key))
        except ImageUnavailable:
            data = None
        img = (
            f'<img src="data:image/png;base64,{data}" alt="ad {html.escape(ad_id)}">'
            if data
            else '<div class="noimg">no image file</div>'
        )
        tag_text = ", ".join(
            f"{k}={v}"
            for k, v in sorted((tags or {}).items())
            if k in ("hook_type", "belief_angle", "template_category", "visual_style", "color_mode")
        )
        cards.append(
            f'<figure class="card status-{html.escape(status)}">{img}<figcaption>'
            f"<b>{html.escape(status)}</b> · {html.escape(brand)}<br>"
            f"<span class='muted'>{html.escape(tag_text)}</span></figcaption></figure>"
        )
    return f'<div class="gallery">{"".join(cards)}</div>', len(t.rows)


# ----- the report ----------------------------------------------------------------------

_POSTERIOR_NOTE = (
    "<p class='muted'>Blue: the posterior Beta(posterior_alpha, posterior_beta) of each value "
    "(genome.creative_element_scores, brand level): mean and 95% interval of the chance that "
    "an ad with this value earns a reward at or above the success threshold. Red x: the "
    "value's true mean reward with the other elements chosen uniformly, averaged over the "
    "audience mix. Levels differ by construction (V2's ads carry good values in the other "
    "dimensions); compare the rankings. Highlighted rows: top value does not match.</p>"
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
max-width:1400px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
tr.flag td{background:#fff3cd}.scroll{overflow-x:auto}.none{color:#777;font-style:italic}
.muted{color:#888;font-size:.9em}img{max-width:100%}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.card{width:190px;margin:0;font-size:11px}
.noimg{width:180px;height:180px;background:#eee;display:flex;align-items:center;
justify-content:center;color:#999}.status-approved figcaption b{color:#1a7f37}
.status-rejected figcaption b{color:#c62828}.kpi td:first-child{font-weight:600}
"""


def _p_now(history: Sequence[DayRecord]) -> datetime:
    """A virtual 'now' after the last day's sync and the jobs that follow it."""
    if history:
        return sync_time(max(r.day for r in history)) + timedelta(days=1)
    return datetime.now(UTC)


def _section_table(
    conn: psycopg.Connection, sql: str, params: Any = None, empty: str = ""
) -> tuple[str, int]:
    t = _query(conn, sql, params)
    if isinstance(t, str):
        return _unavailable(t), 0
    if not t.rows:
        return _none_yet(empty), 0
    return _html_table(t), len(t.rows)


def _attribution(
    conn: psycopg.Connection, truth: Truth, brand_ids: dict[int, str], p_now: datetime
) -> tuple[str, bool | None]:
    """genome.attribute for hook_type per brand, rendered as returned; rows with a
    reversal (Simpson) flag highlighted. Returns whether the planted reversal
    (curiosity_gap) was flagged for any brand (None when there is nothing to judge: no
    brand has enough curiosity_gap ads for a finding, as when the learner, adjusting for
    the audience, stopped choosing it)."""
    if not brand_ids:
        return _none_yet("no brands"), None
    parts = []
    flagged: bool | None = None
    for idx, bid in brand_ids.items():
        t = _query(conn, "SELECT * FROM genome.attribute(%s::uuid, 'hook_type', %s)", (bid, p_now))
        name = html.escape(truth.brands[idx].name)
        if isinstance(t, str):
            parts.append(f"<h3>{name}</h3>{_unavailable(t)}")
            continue
        if not t.rows:
            parts.append(f"<h3>{name}</h3>{_none_yet('no matured ads to attribute')}")
            continue
        flags = [_is_reversal(t.columns, row) for row in t.rows]
        vcol = next((c for c in ("value", "element_value") if c in t.columns), None)
        fcol = t.columns.index("finding") if "finding" in t.columns else None
        if vcol is not None:
            k = t.columns.index(vcol)
            for row, f in zip(t.rows, flags, strict=True):
                judged = f or fcol is None or row[fcol] != "insufficient"
                if row[k] == CONFOUNDED_HOOK and judged:
                    flagged = f or bool(flagged)
        parts.append(f"<h3>{name}</h3>{_html_table(t, flags)}")
    note = (
        "<p class='muted'>Planted truth: curiosity_gap reaches problem_aware audiences "
        "(who click more) far more often than other hooks, so it looks good in aggregate "
        "while it is worse than average within every stratum. Highlighted rows carry a "
        "reversal (Simpson) flag. Findings are correlational.</p>"
    )
    return note + "".join(parts), flagged


def _is_reversal(columns: list[str], row: tuple[Any, ...]) -> bool:
    for c, v in zip(columns, row, strict=True):
        lc = c.lower()
        if ("reversal" in lc or "simpson" in lc) and v is True:
            return True
        if (
            lc == "finding"
            and isinstance(v, str)
            and ("reversal" in v.lower() or "simpson" in v.lower())
        ):
            return True
    return False


@dataclass
class _Report:
    """What the report's sections read (the run) and what they add to (the page and its
    headline summary)."""

    conn: psycopg.Connection
    history: Sequence[DayRecord]
    truth: Truth
    out: Path
    brand_ids: dict[int, str]
    p_now: datetime
    summary: dict[str, Any]
    storage: Path
    images: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def add(self, key: str, title: str, body: str) -> None:
        self.sections.append(Section(key, title, body))


def build_report(
    conn: psycopg.Connection,
    history: Sequence[DayRecord],
    truth: Truth,
    out_dir: Path | str,
    storage: Path | None = None,
) -> dict[str, Any]:
    """Write out_dir/*.png and out_dir/report.html; return the headline summary. The gallery
    reads the ads' images from the storage root `storage` (default out_dir/storage, the demo's
    layout)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = sorted(history, key=lambda r: (r.day, r.brand_index))
    summary = _headline(history)
    summary["brands"] = len(truth.brands)
    summary["strongest_dimension"] = truth.strongest_dimension
    report = _Report(
        conn,
        history,
        truth,
        out,
        _brand_ids(conn, truth, history),
        _p_now(history),
        summary,
        out / "storage" if storage is None else storage,
    )
    for add_section in _SECTIONS:
        add_section(report)
    summary["images"] = report.images
    html_path = out / "report.html"
    html_path.write_text(_render(summary, report.sections, truth))
    summary["report_html"] = str(html_path)
    return summary


def _policy_table(s: dict[str, Any]) -> Table:
    """V2, MABWiser, random and the oracle side by side, from the headline summary."""

    def ratio(v: Any) -> str:
        return "" if v is None else f"{v:.2f}"

    rows = [
        (
            "Creative Genome (V2)",
            _pct(s.get("v2_pct_of_oracle_metric_last30")),
            ratio(s.get("metric_regret_ratio_v2_vs_random")),
            _pct(s.get("v2_pct_of_oracle_last30")),
            s.get("v2_mean_reward_last30"),
            s.get("regret_v2"),
            ratio(s.get("regret_ratio_vs_random")),
            ratio(s.get("regret_ratio_vs_mabwiser")),
        ),
        (
            MABWISER_LABEL + " (shadow)",
            _pct(s.get("mabwiser_pct_of_oracle_metric_last30")),
            ratio(s.get("metric_regret_ratio_mabwiser_vs_random")),
            _pct(s.get("mabwiser_pct_of_oracle_last30")),
            s.get("mabwiser_mean_reward_last30"),
            s.get("regret_mabwiser"),
            ratio(s.get("mabwiser_regret_ratio_vs_random")),
            "1.00" if s.get("regret_mabwiser") else "",
        ),
        (
            "random elements",
            _pct(s.get("random_pct_of_oracle_metric_last30")),
            "1.00" if s.get("metric_regret_random") else "",
            _pct(s.get("random_pct_of_oracle_last30")),
            s.get("random_mean_reward_last30"),
            s.get("regret_random"),
            "1.00" if s.get("regret_random") else "",
            ratio(s["regret_random"] / s["regret_mabwiser"] if s.get("regret_mabwiser") else None),
        ),
        (
            "oracle",
            "100.0%",
            "0.00",
            "100.0%",
            s.get("oracle_mean_reward_last30"),
            0.0,
            "0.00",
            "0.00",
        ),
    ]
    return Table(
        [
            "policy",
            f"% of oracle on CTR / ROAS (last {LAST_DAYS} days)",
            "regret on CTR / ROAS / random",
            f"% of oracle, composite reward (last {LAST_DAYS} days)",
            f"mean true reward (last {LAST_DAYS} days)",
            "cumulative regret",
            "regret / random",
            "regret / MABWiser",
        ],
        rows,
    )


_POLICIES_NOTE = (
    "<p class='muted'>Every policy chooses as many ads a day per brand as V2 launched and is "
    "scored by the truth's expected reward of the ads' elements. V2's ads are real: planned "
    "through the SQL API and learned from the database's rewards. MABWiser is a shadow: "
    "Thompson sampling per brand and per dimension (sim/policies.py, the learning benchmark's "
    "reference policy) fed each of its ads' simulated clicks of impressions (purchases of "
    "impressions for the sales objective) once, when the metric matures, as V2's rewards do; "
    "it creates no ads. Random draws uniform elements (what the existing app effectively "
    "does). Two yardsticks: the brand's objective metric (CTR for traffic and awareness, "
    "ROAS for sales, each ad as a share of the best combination's, as the learning benchmark "
    "scores), and the composite reward, which is clipped against random ads' own quartiles "
    "and so keeps random near half the oracle. Regret = oracle minus the ad's value, summed "
    "over all ads (on the objective metric, in shares of the brand's best).</p>"
)


def _learning_section(r: _Report) -> None:
    """The learning curve, the policies side by side, and the cumulative regret."""
    if any(d.v2_ads or d.random_rewards for d in r.history):
        r.images.append(_plot_learning(r.history, r.truth, r.out / "learning_curve.png"))
        r.images.append(_plot_regret(r.history, r.out / "regret.png"))
        body = (
            _img(r.out / "learning_curve.png", "learning curve")
            + _POLICIES_NOTE
            + _html_table(_policy_table(r.summary))
        )
        regret = _img(r.out / "regret.png", "cumulative regret")
    else:
        body = regret = _none_yet("no ads launched")
    r.add("learning", "Learning curve: true reward, V2 vs MABWiser vs random vs oracle", body)
    r.add("regret", "Cumulative regret", regret)


BENCH_POLICIES = ("project", "mabwiser", "joint_ts", "random", "oracle")


def _bench_learning(path: Path) -> tuple[Table, str] | str:
    """The learning benchmark's table from a `python -m bench` report (out/bench.json): per
    family, each policy's mean last-third % of the oracle over seeds, and the project's
    regret ratios; or why there is none."""
    if not path.exists():
        return f"no {path.name} yet: run `make bench` or `python -m bench --only learning`"
    try:
        report = json.loads(path.read_text())
        bench = next(b for b in report.get("benchmarks", []) if b.get("name") == "learning")
    except (OSError, ValueError, StopIteration, AttributeError):
        return f"{path.name} has no learning benchmark"
    if bench.get("error"):
        return f"the learning benchmark failed: {bench['error']}"
    sizes = bench.get("sizes", {})
    details = bench.get("details", {})
    policies = [p for p in BENCH_POLICIES if p in sizes.get("policies", BENCH_POLICIES)]
    rows = []
    for family in sizes.get("families", []):
        d = details.get(family)
        if not isinstance(d, dict):
            continue
        pct = [d.get(p, {}).get("pct_oracle_last_third", {}).get("mean") for p in policies]
        regret = {p: d.get(p, {}).get("regret", {}).get("mean") for p in policies}

        def rel(a: str, b: str, regret: dict[str, Any] = regret) -> float | None:
            x, y = regret.get(a), regret.get(b)
            return x / y if x is not None and y else None

        top = d.get("project", {}).get("top_value_accuracy_pct")
        rows.append((family, *pct, rel("project", "random"), rel("project", "mabwiser"), top))
    if not rows:
        return f"{path.name}: the learning benchmark has no family results"
    source = (
        f"From {html.escape(str(path))}: <code>{html.escape(' '.join(report.get('command', [])))}"
        f"</code>, finished {html.escape(str(report.get('finished_at', '?')))}; "
        f"{sizes.get('seeds')} seeds x {sizes.get('days')} days x {sizes.get('ads_per_day')} "
        "ads a day per brand, on the benchmark's market families (sim/markets.py), not on this "
        "demo's market. Mean over seeds of the last third's % of the oracle; regret ratios "
        "are the project's cumulative regret over the other policy's."
    )
    cols = ["family", *[f"{p} % of oracle" for p in policies]]
    cols += ["regret / random", "regret / MABWiser", "top value right %"]
    return Table(cols, rows), source


def _benchmark_section(r: _Report) -> None:
    """The latest learning benchmark (out/bench.json), beside the demo's single run."""
    got = _bench_learning(r.out / "bench.json")
    if isinstance(got, str):
        r.summary["bench_families"] = 0
        body = _none_yet(got)
    else:
        table, source = got
        r.summary["bench_families"] = len(table.rows)
        body = f"<p class='muted'>{source}</p>" + _html_table(table)
    r.add("benchmark", "Learning benchmark across market families", body)


def _posterior_section(r: _Report) -> None:
    """What the genome believes about each dimension against the truth."""
    truth = r.truth
    views = _dimension_views(r.conn, truth, r.brand_ids)
    if isinstance(views, str):
        post_body = _unavailable(views)
        views = []
    elif not any(m is not None for v in views for m in v.post_mean):
        post_body = _none_yet("no element scores")
    else:
        parts = []
        for idx in r.brand_ids:
            name = r.out / f"posteriors_brand{idx + 1}.png"
            r.images.append(_plot_posteriors(views, truth, idx, name))
            parts.append(_img(name, f"posteriors brand {idx + 1}"))
        rows = [
            (
                truth.brands[v.brand_index].name,
                v.dimension,
                v.top_learned,
                v.top_true,
                v.match,
                sum(v.n),
            )
            for v in views
        ]
        table = Table(
            [
                "brand",
                "dimension",
                "top value (genome)",
                "best value (truth)",
                "match",
                "rewards counted",
            ],
            rows,
        )
        parts.append(_html_table(table, [v.match is False for v in views]))
        post_body = _POSTERIOR_NOTE + "".join(parts)
    judged = [v for v in views if v.match is not None]
    r.summary["top_value_evaluated"] = len(judged)
    r.summary["top_value_accuracy"] = (
        sum(bool(v.match) for v in judged) / len(judged) if judged else None
    )
    strong = [v for v in judged if v.dimension == truth.strongest_dimension]
    r.summary["strongest_dimension_accuracy"] = (
        sum(bool(v.match) for v in strong) / len(strong) if strong else None
    )
    r.add("posteriors", "What the genome believes vs the truth", post_body)


def _attribution_section(r: _Report) -> None:
    body, r.summary["simpson_flagged"] = _attribution(r.conn, r.truth, r.brand_ids, r.p_now)
    r.add("attribution", "Attribution of hook_type (stratified, Simpson flags)", body)


def _experiments_section(r: _Report) -> None:
    body, r.summary["experiments"] = _section_table(
        r.conn,
        """
        SELECT e.name, b.name AS brand, e.test_variable, e.status, e.verdict,
               e.started_at, e.completed_at,
               (SELECT string_agg(format('%s: %s (%s impr, %s clicks, P(best) %s, %s)',
                                         a.arm_name, a.test_variable_value, a.total_impressions,
                                         a.total_clicks, coalesce(round(a.prob_best, 3)::text, '-'),
                                         coalesce(a.recommendation, '-')),
                                  '; ' ORDER BY a.arm_index)
                FROM genome.experiment_arms AS a WHERE a.experiment_id = e.id) AS arms,
               e.result_summary
        FROM genome.experiments AS e
        JOIN public.brands AS b ON b.id = e.brand_id
        ORDER BY e.created_at, e.id
        """,
    )
    r.add("experiments", "Experiments", body)


def _winners_section(r: _Report) -> None:
    body, r.summary["winners"] = _section_table(
        r.conn,
        """
        SELECT l.created_at, l.evolution_type, l.iteration_round, l.variable_changed,
               l.variable_from, l.variable_to, l.parent_ad_id, l.child_ad_id, l.ancestor_ad_id
        FROM genome.ad_lineage AS l
        ORDER BY l.created_at, l.id
        """,
    )
    r.add("winners", "Winners and their evolution", body)


def _alerts_section(r: _Report) -> None:
    body, r.summary["alerts"] = _section_table(
        r.conn,
        """
        SELECT a.created_at, b.name AS brand, a.severity, a.alert_type, a.title, a.status,
               a.metric_value, a.resolved_at
        FROM genome.system_alerts AS a
        LEFT JOIN public.brands AS b ON b.id = a.brand_id
        ORDER BY a.created_at, a.id
        """,
    )
    r.add("alerts", "Alerts", body)


def _calibration_section(r: _Report) -> None:
    body, r.summary["calibrations"] = _section_table(
        r.conn,
        """
        SELECT c.created_at, o.name AS organization, c.version, c.is_active,
               c.calibrated_from_overrides, c.weighted_pass_threshold,
               c.weighted_flag_threshold, c.approved_by, c.activated_at, c.calibration_metrics
        FROM genome.quality_scoring_config AS c
        JOIN public.organizations AS o ON o.id = c.organization_id
        WHERE c.parent_config_id IS NOT NULL OR c.calibrated_from_overrides > 0
        ORDER BY c.created_at, c.id
        """,
        empty="only the default review configuration",
    )
    r.add("calibration", "Review calibration changes", body)


def _exemplars_section(r: _Report) -> None:
    body, r.summary["exemplar_rows"] = _section_table(
        r.conn,
        """
        WITH library AS (
            SELECT e.brand_id,
                   count(*) FILTER (WHERE e.exemplar_type = 'gold_approve') AS gold_approve,
                   count(*) FILTER (WHERE e.exemplar_type = 'gold_reject') AS gold_reject,
                   count(*) FILTER (WHERE e.exemplar_type = 'edge_case') AS edge_case,
                   min(e.created_at) AS first_added
            FROM genome.ad_quality_exemplars AS e
            WHERE e.is_active
            GROUP BY e.brand_id
        ),
        reviews AS (
            SELECT p.brand_id,
                   count(*) FILTER (WHERE cardinality(r.exemplar_ids) > 0) AS with_exemplars,
                   count(*) AS reviews
            FROM genome.ad_reviews AS r
            JOIN public.generated_ads AS g ON g.id = r.generated_ad_id
            JOIN public.ad_runs AS ar ON ar.id = g.ad_run_id
            JOIN public.products AS p ON p.id = ar.product_id
            GROUP BY p.brand_id
        )
        SELECT b.name AS brand, l.gold_approve, l.gold_reject, l.edge_case, l.first_added,
               coalesce(rv.with_exemplars, 0) AS reviews_with_exemplars,
               coalesce(rv.reviews, 0) AS reviews
        FROM library AS l
        JOIN public.brands AS b ON b.id = l.brand_id
        LEFT JOIN reviews AS rv ON rv.brand_id = l.brand_id
        ORDER BY b.name
        """,
        empty="no exemplars curated yet",
    )
    r.add("exemplars", "Few-shot exemplar library", body)


def _gallery_section(r: _Report) -> None:
    body, r.summary["gallery_ads"] = _gallery(r.conn, r.storage)
    r.add("gallery", "Generated ads and their review outcome", body)


def _cost_section(r: _Report) -> None:
    body, cost = _costs(r.conn)
    r.summary.update(cost)
    r.add("cost", "Cost per ad", body)


def _jobs_section(r: _Report) -> None:
    body, _ = _section_table(
        r.conn,
        """
        SELECT job_name, status, count(*) AS runs, min(p_now) AS first_p_now,
               max(p_now) AS last_p_now, sum(rows_affected) AS rows_affected
        FROM genome.job_runs
        GROUP BY job_name, status
        ORDER BY job_name, status
        """,
    )
    r.add("jobs", "Scheduled jobs run", body)


# The report's sections, in page order.
_SECTIONS = (
    _learning_section,
    _benchmark_section,
    _posterior_section,
    _attribution_section,
    _experiments_section,
    _winners_section,
    _alerts_section,
    _calibration_section,
    _exemplars_section,
    _gallery_section,
    _cost_section,
    _jobs_section,
)


def _costs(conn: psycopg.Connection) -> tuple[str, dict[str, Any]]:
    t = _query(
        conn,
        """
        SELECT provider, operation, model, count(*) AS calls,
               count(*) FILTER (WHERE NOT ok) AS failed,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               sum(cost_usd)::float8 AS cost_usd
        FROM genome.provider_calls
        GROUP BY provider, operation, model
        ORDER BY provider, operation, model
        """,
    )
    ads = _query(
        conn,
        "SELECT count(*), count(*) FILTER (WHERE final_status = 'approved') "
        "FROM public.generated_ads",
    )
    n_ads, n_ok = ads.rows[0] if isinstance(ads, Table) else (0, 0)
    if isinstance(t, str):
        return _unavailable(t), {
            "total_cost_usd": None,
            "cost_per_ad_usd": None,
            "cost_per_approved_ad_usd": None,
        }
    total = float(sum(r[-1] or 0.0 for r in t.rows))
    stats = {
        "provider_calls": int(sum(r[3] for r in t.rows)),
        "total_cost_usd": total,
        "cost_per_ad_usd": total / n_ads if n_ads else None,
        "cost_per_approved_ad_usd": total / n_ok if n_ok else None,
    }
    kpi = Table(
        ["figure", "value"],
        [
            ("generated ads", n_ads),
            ("approved ads", n_ok),
            ("model calls", stats["provider_calls"]),
            ("total cost (USD)", f"{total:.4f}"),
            (
                "cost per generated ad (USD)",
                "" if stats["cost_per_ad_usd"] is None else f"{stats['cost_per_ad_usd']:.4f}",
            ),
            (
                "cost per approved ad (USD)",
                ""
                if stats["cost_per_approved_ad_usd"] is None
                else f"{stats['cost_per_approved_ad_usd']:.4f}",
            ),
        ],
    )
    body = _html_table(kpi)
    body += _html_table(t) if t.rows else _none_yet("no model calls recorded")
    return body, stats


def _render(summary: dict[str, Any], sections: list[Section], truth: Truth) -> str:
    kpi = _html_table(Table(["figure", "value"], [(k, v) for k, v in _kpis(summary)]))
    nav = " · ".join(
        f'<a href="#{s.key}">{html.escape(s.title.split(":")[0])}</a>' for s in sections
    )
    body = "".join(
        f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>{s.body}</section>' for s in sections
    )
    truth_note = (
        f"<p class='muted'>Scored against the simulator's ground truth (seed {truth.seed}, "
        f"{len(truth.brands)} brands; strongest dimension {truth.strongest_dimension}). "
        "True reward = Creative Genome's composite reward with infinite data, averaged over "
        "the audience mix; oracle = best elements under the truth; random = uniform "
        "element choice, as the existing app effectively does; MABWiser = a shadow Thompson "
        "sampler per dimension on the same truth (no ads created).</p>"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>Creative Genome demo report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>Creative Genome: does it learn?</h1>"
        f"{truth_note}<section id='summary'><h2>Headline</h2><div class='kpi'>{kpi}</div>"
        "</section>"
        f"<p>{nav}</p>{body}</body></html>"
    )


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}%"


def _kpis(s: dict[str, Any]) -> list[tuple[str, str]]:
    def num(v: Any, f: str = "{:.3f}") -> str:
        return "n/a" if v is None else f.format(v)

    return [
        ("virtual days", str(s.get("days", 0))),
        (
            "ads planned / approved / launched",
            f"{s.get('ads_planned', 0)} / {s.get('ads_approved', 0)} / {s.get('ads_launched', 0)}",
        ),
        (
            "V2 / MABWiser / random, % of oracle on CTR or ROAS (last 30 days)",
            " / ".join(
                _pct(s.get(f"{p}_pct_of_oracle_metric_last30"))
                for p in ("v2", "mabwiser", "random")
            ),
        ),
        (
            "regret ratio on CTR or ROAS, V2 / random; V2 / MABWiser",
            f"{num(s.get('metric_regret_ratio_v2_vs_random'))}; "
            f"{num(s.get('metric_regret_ratio_v2_vs_mabwiser'))}",
        ),
        ("V2 reward, % of oracle (last 30 days)", _pct(s.get("v2_pct_of_oracle_last30"))),
        (
            "MABWiser reward, % of oracle (last 30 days)",
            _pct(s.get("mabwiser_pct_of_oracle_last30")),
        ),
        ("random reward, % of oracle (last 30 days)", _pct(s.get("random_pct_of_oracle_last30"))),
        ("regret ratio V2 / random", num(s.get("regret_ratio_vs_random"))),
        ("regret ratio V2 / MABWiser", num(s.get("regret_ratio_vs_mabwiser"))),
        ("top-value accuracy (all dimensions)", num(s.get("top_value_accuracy"), "{:.0%}")),
        (
            f"top-value accuracy ({s.get('strongest_dimension')})",
            num(s.get("strongest_dimension_accuracy"), "{:.0%}"),
        ),
        (
            "planted Simpson reversal flagged",
            {True: "yes", False: "no", None: "n/a (too few ads of the hook to judge)"}[
                s.get("simpson_flagged")
            ],
        ),
        (
            "experiments / evolved children / alerts / calibrations",
            f"{s.get('experiments', 0)} / {s.get('winners', 0)} / {s.get('alerts', 0)} / "
            f"{s.get('calibrations', 0)}",
        ),
        ("cost per generated ad (USD)", num(s.get("cost_per_ad_usd"), "{:.4f}")),
    ]


def format_summary(summary: dict[str, Any]) -> str:
    """The headline figures as a few lines of text."""
    width = max(len(k) for k, _ in _kpis(summary))
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in _kpis(summary))
