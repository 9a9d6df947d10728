"""Learning: the project's learner against MABWiser, random, a joint Bayesian model and the
oracle, on market families it was not built against (sim/markets.py).

Per family and seed, every policy plans `ads_per_day` ads a day per brand for `days` virtual
days on the same truth and the same delivery (sim.market.deliver):

- project: the real SQL API. Each day `genome.plan_ads` on a new ad_run per brand; the
  planned ads are marked approved in SQL (no agents) and launched by the family's market,
  which maps them to Meta ads (meta_ad_mapping) and writes Meta-like meta_ads_performance
  rows; the scheduled jobs run through `genome.run_job(name, p_now)` at their times
  (`job_calendar`).
- mabwiser: MABWiser Thompson sampling per brand and per dimension, fed each matured ad's
  counts as binomial successes and failures (clicks of impressions; purchases of
  impressions for the sales objective), from the maturation age of that metric in
  genome.reward_metrics (docs/rewards.md#maturation), learning daily.
- random: uniform elements (the existing app's behaviour).
- joint_ts: a reference joint Bayesian logistic model over all element values (one-hot,
  Normal prior), Laplace posterior on the same counts with its covariance inflated by the
  Pearson overdispersion, Thompson sampling from it, learning daily.
- oracle: the best combination each day.

Scores use the truth's expected reward (not the noisy realisations): the last third's
share of the oracle, cumulative regret against the oracle (relative to random and to
MABWiser), top-value accuracy on the strong dimensions (the most chosen value in the last
third is the oracle's), days back to 80% of the oracle after the swap (drift family), and
the spread over seeds. The verdict compares them with the goals of the learning issue.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from bench.harness import BenchResult, Row, Server
from sim.markets import (
    FAMILIES,
    FamilyMarket,
    FamilyTruth,
    LocalAd,
    LocalMarket,
    build_family,
)
from sim.policies import DimensionThompson
from sim.truth import fatigue_factor

POLICIES = ("project", "mabwiser", "joint_ts", "random", "oracle")
START_DAY = dt.date(2026, 1, 5)  # a Monday, so weekly jobs fall on whole weeks
PLAN_HOUR = 9
# The goals (docs/learning.md states what the learner promises).
GOAL_PCT_ORACLE = 90.0
GOAL_REGRET_VS_RANDOM = 0.5
GOAL_REGRET_VS_MABWISER = 0.7
GOAL_TOP_VALUE = 90.0
GOAL_SWAP_DAYS = 14
SWAP_RECOVERY_SHARE = 0.8


@dataclass(frozen=True)
class LearnSizes:
    seeds: int = 10
    days: int = 50
    ads_per_day: int = 6
    families: tuple[str, ...] = tuple(FAMILIES)
    policies: tuple[str, ...] = POLICIES


@dataclass(frozen=True)
class Maturation:
    """Ages (days since first delivery) at which a learner may use clicks and purchases."""

    clicks: int = 3
    purchases: int = 7

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Maturation:
        rows = dict(
            conn.execute(
                "SELECT metric, maturation_days FROM genome.reward_metrics "
                "WHERE metric IN ('ctr', 'conversion_rate')"
            ).fetchall()
        )
        return cls(clicks=int(rows["ctr"]), purchases=int(rows["conversion_rate"]))


@dataclass
class Trace:
    """What one policy planned: per brand, per day, the element combinations."""

    policy: str
    plans: dict[int, dict[int, list[dict[str, str]]]] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, brand: int, day: int, tags: Iterable[dict[str, str]]) -> None:
        self.plans.setdefault(brand, {})[day] = [dict(t) for t in tags]


# ----- the numpy policies --------------------------------------------------------------


class Policy:
    """A learner run on the in-memory market: `choose` plans a brand's day, `learn` sees
    what matured by the morning after `day`."""

    name = ""

    def __init__(self, truth: FamilyTruth, seed: int, maturation: Maturation) -> None:
        self.truth = truth
        self.rng = np.random.default_rng([seed, 31, POLICIES.index(self.name)])
        self.maturation = maturation
        self.dims = list(truth.dimensions)

    def random_tags(self) -> dict[str, str]:
        return {d: v[int(self.rng.integers(len(v)))] for d, v in self.truth.dimensions.items()}

    def choose(self, brand: int, day: int, n: int) -> list[dict[str, str]]:
        return [self.random_tags() for _ in range(n)]

    def learn(self, market: LocalMarket, day: int) -> None:
        pass

    # Counts a learner may use by the morning after `day`: per matured ad of `brand`,
    # (ad, successes, trials).
    def matured_counts(
        self, market: LocalMarket, brand: int, day: int
    ) -> list[tuple[LocalAd, int, int]]:
        conversions = self.truth.spec.reward == "roas"
        age_needed = self.maturation.purchases if conversions else self.maturation.clicks
        out = []
        for ad in market.ads:
            if ad.brand != brand or day + 1 - ad.first_day < age_needed:
                continue
            imps, clicks, purchases, _, _ = market.observed(ad, day)
            if imps > 0:
                out.append((ad, purchases if conversions else clicks, imps))
        return out


class RandomPolicy(Policy):
    name = "random"


class OraclePolicy(Policy):
    name = "oracle"

    def choose(self, brand: int, day: int, n: int) -> list[dict[str, str]]:
        return [self.truth.oracle(brand, day)[0]] * n


class MabwiserPolicy(Policy):
    """MABWiser Thompson sampling per brand and per dimension (arms = the dimension's
    values; sim.policies.DimensionThompson, the demo's too). Each ad is fed once, when its
    metric matures: every impression it had by then is one binary trial (a click, or a
    purchase for the sales objective). Feeding the later days too would mean arrays of
    millions of trials a day (DimensionThompson.feed skips only the public methods' Python
    checks of them, sim/policies.py _fit)."""

    name = "mabwiser"

    def __init__(self, truth: FamilyTruth, seed: int, maturation: Maturation) -> None:
        super().__init__(truth, seed, maturation)
        self.bandits = DimensionThompson(
            truth.dimensions, [b.index for b in truth.brands], self.rng
        )
        self.fed: set[int] = set()

    def choose(self, brand: int, day: int, n: int) -> list[dict[str, str]]:
        return self.bandits.choose(brand, n)

    def learn(self, market: LocalMarket, day: int) -> None:
        for b in self.truth.brands:
            fresh = [
                (ad, s, n)
                for ad, s, n in self.matured_counts(market, b.index, day)
                if id(ad) not in self.fed
            ]
            self.fed.update(id(ad) for ad, _, _ in fresh)
            self.bandits.feed(b.index, [(ad.tags, s, n) for ad, s, n in fresh])


class JointTSPolicy(Policy):
    """Joint Bayesian logistic regression over every element value (one-hot), Normal prior
    N(0, PRIOR_SD²) on each value's log-odds effect; Laplace posterior at the MAP (Newton),
    covariance times the Pearson dispersion (>= 1) so that ad-to-ad spread widens it;
    Thompson sampling: one posterior draw per planned ad, the best value per dimension."""

    name = "joint_ts"
    PRIOR_SD = 1.0

    def __init__(self, truth: FamilyTruth, seed: int, maturation: Maturation) -> None:
        super().__init__(truth, seed, maturation)
        self.offsets = np.cumsum([0] + [len(truth.dimensions[d]) for d in self.dims])
        self.posterior: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def features(self, tags: dict[str, str]) -> np.ndarray:
        x = np.zeros(int(self.offsets[-1]) + 1)
        x[0] = 1.0
        for k, d in enumerate(self.dims):
            x[1 + self.offsets[k] + self.truth.dimensions[d].index(tags[d])] = 1.0
        return x

    def choose(self, brand: int, day: int, n: int) -> list[dict[str, str]]:
        if brand not in self.posterior:
            return super().choose(brand, day, n)
        mean, cov = self.posterior[brand]
        draws = self.rng.multivariate_normal(mean, cov, size=n, method="cholesky")
        out = []
        for theta in draws:
            t = {}
            for k, d in enumerate(self.dims):
                seg = theta[1 + self.offsets[k] : 1 + self.offsets[k + 1]]
                t[d] = self.truth.dimensions[d][int(np.argmax(seg))]
            out.append(t)
        return out

    def learn(self, market: LocalMarket, day: int) -> None:
        for b in self.truth.brands:
            data = self.matured_counts(market, b.index, day)
            if not data:
                continue
            x = np.array([self.features(ad.tags) for ad, _, _ in data])
            y = np.array([s for _, s, _ in data], dtype=float)
            n = np.array([t for _, _, t in data], dtype=float)
            self.posterior[b.index] = laplace_logistic(x, y, n, self.PRIOR_SD)


def laplace_logistic(
    x: np.ndarray, y: np.ndarray, n: np.ndarray, prior_sd: float, iters: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """MAP and overdispersion-inflated Laplace covariance of a binomial logistic model
    (y successes of n trials per row) with N(0, prior_sd²) on the non-intercept columns and
    a flat-ish N(logit(ȳ), 10²) on the intercept (column 0)."""
    p = x.shape[1]
    rate = np.clip(y.sum() / n.sum(), 1e-6, 1 - 1e-6)
    prior_mean = np.zeros(p)
    prior_mean[0] = np.log(rate / (1 - rate))
    prec = np.full(p, 1.0 / prior_sd**2)
    prec[0] = 1.0 / 100.0
    theta = prior_mean.copy()
    for _ in range(iters):
        mu = 1.0 / (1.0 + np.exp(-(x @ theta)))
        w = n * mu * (1 - mu)
        grad = x.T @ (y - n * mu) - prec * (theta - prior_mean)
        hess = (x.T * w) @ x + np.diag(prec)
        step = np.linalg.solve(hess, grad)
        theta = theta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    mu = 1.0 / (1.0 + np.exp(-(x @ theta)))
    w = n * mu * (1 - mu)
    fisher = (x.T * w) @ x
    cov = np.linalg.inv(fisher + np.diag(prec))
    pearson = float(np.sum((y - n * mu) ** 2 / np.maximum(w, 1e-12)))
    dof = max(len(y) - float(np.trace(cov @ fisher)), 1.0)
    dispersion = max(1.0, pearson / dof)
    return theta, cov * dispersion


POLICY_CLASSES: dict[str, type[Policy]] = {
    c.name: c for c in (RandomPolicy, OraclePolicy, MabwiserPolicy, JointTSPolicy)
}


def run_local(
    truth: FamilyTruth, policy: str, seed: int, ads_per_day: int, maturation: Maturation
) -> Trace:
    """One policy on the in-memory market for the truth's whole horizon."""
    return run_local_policy(truth, POLICY_CLASSES[policy](truth, seed, maturation), ads_per_day)


def run_local_policy(truth: FamilyTruth, pol: Policy, ads_per_day: int) -> Trace:
    """run_local with the policy made by the caller (bench.yardstick's)."""
    started = time.perf_counter()
    market = LocalMarket(truth)
    trace = Trace(pol.name)
    for day in range(truth.days):
        for b in truth.brands:
            if day < truth.start_days[b.index]:
                continue
            tags = pol.choose(b.index, day, ads_per_day)
            for t in tags:
                market.launch(b.index, t, day)
            trace.add(b.index, day, tags)
        market.simulate_day(day)
        pol.learn(market, day)
    trace.seconds = time.perf_counter() - started
    return trace


# ----- the project, through its SQL API -------------------------------------------------


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    minute: int
    hour: int
    weekdays: frozenset[int] | None  # ISO weekdays 1-7; None: every day


def _cron_field(text: str) -> list[int] | None:
    return None if text == "*" else [int(v) for v in text.split(",")]


def job_calendar(conn: psycopg.Connection) -> tuple[list[ScheduledJob], list[str]]:
    """The project's scheduled jobs with their time of day and weekdays, in the order they
    run, and the jobs left out (with why), from genome.job_schedules, the one definition of
    the schedules (docs/operations.md#scheduled-jobs). Jobs that run every minute (agent
    lease reaping) are left out: no agents run in the benchmark."""
    rows = conn.execute(
        "SELECT job_name, schedule FROM genome.job_schedules ORDER BY day_order"
    ).fetchall()
    names = [name for name, _ in rows]
    crons = dict(rows)
    jobs, left_out = [], []
    for name in names:
        cron = crons.get(name)
        if cron is None:
            left_out.append(f"{name} (no schedule)")
            continue
        minute, hour, _dom, _month, dow = cron.split()
        minutes, hours, days = _cron_field(minute), _cron_field(hour), _cron_field(dow)
        if minutes is None or hours is None:
            left_out.append(f"{name} (every minute/hour: agent housekeeping)")
            continue
        weekdays = None if days is None else frozenset(7 if d == 0 else d for d in days)
        jobs += [ScheduledJob(name, m, h, weekdays) for h in hours for m in minutes]
    jobs.sort(key=lambda j: (j.hour, j.minute))
    return jobs, left_out


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def _jobs_between(
    jobs: Sequence[ScheduledJob], start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, str]]:
    """Every scheduled run in (start, end], in time order."""
    out = []
    day = start.date()
    while day <= end.date():
        for j in jobs:
            at = _at(day, j.hour, j.minute)
            if start < at <= end and (j.weekdays is None or day.isoweekday() in j.weekdays):
                out.append((at, j.name))
        day += dt.timedelta(days=1)
    return sorted(out)


def run_project(
    url: str, truth: FamilyTruth, seed: int, ads_per_day: int
) -> tuple[Trace, dict[str, int], list[dict[str, Any]]]:
    """The project on a family truth, in the database at `url` (freshly migrated). Returns
    what it planned, the job runs, and the off-policy estimates of uniform random elements
    from its logged propensities beside the truth (`off_policy_check`)."""
    started = time.perf_counter()
    trace = Trace("project")
    job_runs: Counter[str] = Counter()
    with psycopg.connect(url, autocommit=True) as conn:
        jobs, _ = job_calendar(conn)
        market = FamilyMarket(truth, START_DAY)
        market.setup(conn, start=START_DAY)
        for day_i in range(truth.days):
            day = START_DAY + dt.timedelta(days=day_i)
            plan_at = _at(day, PLAN_HOUR)
            for h in market.brands:
                if day_i < truth.start_days[h.index]:
                    continue
                ids = _plan(conn, h.product_id, plan_at, ads_per_day, seed, day_i, h.index)
                tags = _approve(conn, ids, plan_at)
                # The app's audience for each ad (NEUTRAL_CONTEXT but in the confounded
                # family), drawn as the local market draws it.
                audiences = [
                    truth.draw_audience(
                        np.random.default_rng([truth.seed, 5, h.index, day_i, k]),
                        t.get("hook_type"),
                    )
                    for k, t in enumerate(tags)
                ]
                market.launch_many(conn, ids, day, audiences)
                trace.add(h.index, day_i, [truth.element_tags(t) for t in tags])
            market.simulate_day(conn, day)
            for at, name in _jobs_between(jobs, plan_at, plan_at + dt.timedelta(days=1)):
                out = conn.execute("SELECT genome.run_job(%s, %s)", (name, at)).fetchone()[0]  # type: ignore[index]
                job_runs[name] += 1
                if out["status"] == "failed":
                    raise RuntimeError(f"{name} failed at {at}: {out.get('error')}")
        end = _at(START_DAY + dt.timedelta(days=truth.days), PLAN_HOUR)
        checks = [
            off_policy_check(conn, truth, market.brands[b].brand_id, b, end) for b in truth.focus
        ]
    trace.seconds = time.perf_counter() - started
    return trace, dict(job_runs), [c for c in checks if c is not None]


def off_policy_check(
    conn: psycopg.Connection, truth: FamilyTruth, brand_id: Any, brand: int, p_now: dt.datetime
) -> dict[str, Any] | None:
    """genome.evaluate_policy's estimate of uniform random elements' CTR from the project's
    logged propensities, beside the truth of what it estimates (click families only).

    The estimand is the mean CTR the logged ads would have had with uniformly drawn elements:
    each ad launched on its day and bought as it was (its budget draws, CPMs and days live),
    only its elements drawn anew. Per ad counted (the matured planned ads evaluate_policy
    reads) the truth is the mean over every combination of its expected fresh CTR that day
    times the impression-weighted fatigue its delivery would have brought over the days the
    ad's reward counts (sim.truth.fatigue_factor replayed on the ad's impressions, scaled
    by the delivery tilt's (CTR ratio) ** tilt where Meta favours ads that click). A
    brand's lifetime CTR of random elements is another quantity: young ads are before most
    of their fatigue, and the last days' ads are not matured yet. Held as they were, not
    redrawn: the day shocks the ad met, and its own creative spread in the tilt (the tilt
    is applied to the elements' expected CTR)."""
    if truth.spec.reward != "ctr":
        return None
    uniform = {d: {v: 1.0 / len(vals) for v in vals} for d, vals in truth.dimensions.items()}
    out = conn.execute(
        "SELECT genome.evaluate_policy(%s, %s, %s, 'ctr')", (brand_id, Jsonb(uniform), p_now)
    ).fetchone()[0]  # type: ignore[index]
    return {
        "truth": _uniform_truth_as_delivered(conn, truth, brand_id, brand, p_now),
        "n": out["n"],
        "effective_sample_size": out["effective_sample_size"],
        "ips": out["ips"],
        "snips": out["snips"],
        "raked": out["raked"],
    }


def _uniform_truth_as_delivered(
    conn: psycopg.Connection, truth: FamilyTruth, brand_id: Any, brand: int, p_now: dt.datetime
) -> float | None:
    """The mean over the ads evaluate_policy counts of uniform elements' expected CTR given
    each ad's launch day and purchase of delivery (off_policy_check)."""
    rows = conn.execute(
        """
        SELECT r.first_date, r.total_impressions, r.element_tags,
               array_agg(p.impressions ORDER BY p.date)
        FROM genome.creative_element_rewards AS r
        JOIN public.generated_ads AS g ON g.id = r.generated_ad_id
        JOIN public.meta_ad_mapping AS m ON m.generated_ad_id = r.generated_ad_id
        JOIN public.meta_ads_performance AS p
            ON p.meta_ad_id = m.meta_ad_id AND p.brand_id = r.brand_id
        WHERE r.brand_id = %s AND r.matured_at <= %s AND NOT r.is_imported
          AND g.element_propensities ? 'propensities'
          AND r.total_clicks IS NOT NULL AND r.total_impressions > 0
        GROUP BY r.generated_ad_id, r.first_date, r.total_impressions, r.element_tags
        """,
        (brand_id, p_now),
    ).fetchall()
    if not rows:
        return None
    params = truth.params
    lifetime = truth.brands[brand].lifetime_fatigue
    per_ad = []
    for first_date, total, tags, imps in rows:
        day = (first_date - START_DAY).days
        # Every combination's fresh CTR that day (the reward grid is fresh x lifetime).
        grid = truth.reward_grid(brand, day).ravel() / lifetime
        own = truth.fresh_rates(brand, truth.element_tags(tags), day).ctr
        scale = (grid / own) ** params.delivery_tilt if params.delivery_tilt else np.ones(1)
        daily = np.asarray(imps, dtype=float)
        cum = np.cumsum(daily)
        # The days the reward counts: the first ones up to its total (its revision window
        # may have closed before the ad stopped).
        upto = int(np.searchsorted(cum, float(total))) + 1
        counted = daily[:upto]
        middle = cum[:upto] - counted / 2.0
        fatigue = fatigue_factor(
            scale[:, None] * middle[None, :], params.audience_size, params.fatigue_rate
        )
        exposure = fatigue @ counted / counted.sum()
        per_ad.append(float(np.mean(grid * exposure)))
    return statistics.fmean(per_ad)


def _plan(
    conn: psycopg.Connection,
    product_id: Any,
    plan_at: dt.datetime,
    n: int,
    seed: int,
    day_i: int,
    brand: int,
) -> list[Any]:
    run_id = conn.execute(
        "INSERT INTO ad_runs (product_id, max_attempts, created_at) VALUES (%s, %s, %s) "
        "RETURNING id",
        (product_id, n, plan_at),
    ).fetchone()[0]  # type: ignore[index]
    p_seed = (seed * 100_003 + day_i) * 101 + brand
    return [
        r[0]
        for r in conn.execute(
            "SELECT genome.plan_ads(%s, %s, %s, %s)", (run_id, n, plan_at, p_seed)
        ).fetchall()
    ]


def _approve(conn: psycopg.Connection, ids: list[Any], at: dt.datetime) -> list[dict[str, str]]:
    """What the agents and the reviewer would do, short-cut: every planned ad approved (its
    generate job closed), so the benchmark measures selection and learning only."""
    with conn.transaction():
        rows = conn.execute(
            """
            UPDATE generated_ads
            SET final_status = 'approved', decision_reason = 'learning benchmark', decided_at = %s
            WHERE id = ANY(%s)
            RETURNING id, element_tags
            """,
            (at, ids),
        ).fetchall()
        conn.execute(
            "DELETE FROM genome.agent_jobs WHERE generated_ad_id = ANY(%s) AND status = 'queued'",
            (ids,),
        )
    by_id = dict(rows)
    return [by_id[i] for i in ids]


# ----- scoring -----------------------------------------------------------------------------


@dataclass
class Scores:
    """One policy on one (family, seed): the truth's expected rewards of what it planned."""

    pct_oracle_last_third: float
    regret: float
    top_value_hits: list[bool]
    swap_recovery_days: float | None
    daily_pct: list[float]


def score(truth: FamilyTruth, trace: Trace) -> Scores:
    got_last = best_last = regret = 0.0
    hits: list[bool] = []
    daily: dict[int, list[float]] = {}
    for b in truth.focus:
        plans = trace.plans.get(b, {})
        start = truth.start_days[b]
        span = truth.days - start
        last_from = start + span - span // 3
        chosen_last: dict[str, Counter[str]] = {d: Counter() for d in truth.spec.strong}
        for day, tags_list in sorted(plans.items()):
            grid = truth.reward_grid(b, day)
            best = float(grid.max())
            got = [float(grid[truth.index(t)]) for t in tags_list]
            regret += sum(best - g for g in got)
            daily.setdefault(day, []).append(float(np.mean(got)) / best)
            if day >= last_from:
                got_last += sum(got)
                best_last += best * len(got)
                for t in tags_list:
                    for d in truth.spec.strong:
                        chosen_last[d][t[d]] += 1
        best_values = truth.best_values(b, range(last_from, truth.days))
        for d in truth.spec.strong:
            top = chosen_last[d].most_common(1)
            hits.append(bool(top) and top[0][0] == best_values[d])
    days = sorted(daily)
    daily_pct = [100.0 * float(np.mean(daily[d])) for d in days]
    return Scores(
        pct_oracle_last_third=100.0 * got_last / best_last if best_last else float("nan"),
        regret=regret,
        top_value_hits=hits,
        swap_recovery_days=_swap_recovery(truth, days, daily_pct),
        daily_pct=daily_pct,
    )


def blind_regret(truth: FamilyTruth, ads_per_day: int, maturation: Maturation) -> float:
    """The expected regret of uniform elements on each measured brand's days before its first
    clicks mature (`maturation.clicks` days from its start): a policy that learns from
    matured data has nothing to learn from then, so in expectation no policy's cumulative
    regret is below this. A brand that starts after others (the sharing family's new brand)
    may learn from its peers from its first day: none for it."""
    out = 0.0
    for b in truth.focus:
        start = truth.start_days[b]
        if start > 0:
            continue
        for day in range(start, min(start + maturation.clicks, truth.days)):
            grid = truth.reward_grid(b, day)
            out += ads_per_day * (float(grid.max()) - float(grid.mean()))
    return out


def _swap_recovery(truth: FamilyTruth, days: list[int], daily_pct: list[float]) -> float | None:
    """Days from the swap until the 3-day mean share of the new oracle first reaches 80%
    (inf when it never does); None for families without a swap."""
    swap = truth.swap_day
    if swap is None:
        return None
    pct = dict(zip(days, daily_pct, strict=True))
    for d in range(swap, truth.days - 2):
        window = [pct[k] for k in (d, d + 1, d + 2) if k in pct]
        if window and np.mean(window) >= 100.0 * SWAP_RECOVERY_SHARE:
            return float(d - swap)
    return float("inf")


# ----- the run -----------------------------------------------------------------------------


@dataclass
class FamilyResult:
    family: str
    scores: dict[str, list[Scores]]  # policy -> one per seed
    blind: list[float] = field(default_factory=list)  # per seed, blind_regret

    def blind_ratio(self, baseline: str) -> float:
        """The regret of the blind days (blind_regret) over `baseline`'s cumulative regret:
        the least regret ratio against it that a policy can expect."""
        base = statistics.fmean(self.regret(baseline))
        return statistics.fmean(self.blind) / base if self.blind and base > 0 else float("nan")

    def pct(self, policy: str) -> list[float]:
        return [s.pct_oracle_last_third for s in self.scores[policy]]

    def regret(self, policy: str) -> list[float]:
        return [s.regret for s in self.scores[policy]]

    def top_value(self, policy: str) -> float:
        hits = [h for s in self.scores[policy] for h in s.top_value_hits]
        return 100.0 * sum(hits) / len(hits) if hits else float("nan")

    def regret_ratio(self, policy: str, baseline: str) -> float:
        base = statistics.fmean(self.regret(baseline))
        return statistics.fmean(self.regret(policy)) / base if base > 0 else float("nan")

    def swap_days(self, policy: str) -> float | None:
        vals = [s.swap_recovery_days for s in self.scores[policy]]
        if any(v is None for v in vals):
            return None
        return float(np.median([v for v in vals if v is not None]))


def _spread(values: Sequence[float]) -> dict[str, float]:
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "median": float(med),
        "iqr": float(q3 - q1),
    }


def run_family(
    server: Server | None,
    family: str,
    sizes: LearnSizes,
    maturation: Maturation,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[FamilyResult, dict[str, Any]]:
    scores: dict[str, list[Scores]] = {p: [] for p in sizes.policies}
    seconds: Counter[str] = Counter()
    job_runs: Counter[str] = Counter()
    off_policy: list[dict[str, Any]] = []
    blind: list[float] = []
    for seed in range(1, sizes.seeds + 1):
        truth = build_family(family, seed, sizes.days)
        blind.append(blind_regret(truth, sizes.ads_per_day, maturation))
        for policy in sizes.policies:
            if policy == "project":
                if server is None:
                    raise ValueError("the project policy needs a database server")
                name = f"learning_{family.replace('.', '')}_{seed}"
                url = server.migrated(name)  # a clone of the run's template
                try:
                    trace, runs, checks = run_project(url, truth, seed, sizes.ads_per_day)
                finally:
                    server.drop(name)
                job_runs.update(runs)
                off_policy += checks
            else:
                trace = run_local(truth, policy, seed, sizes.ads_per_day, maturation)
            seconds[policy] += trace.seconds
            scores[policy].append(score(truth, trace))
        log(
            f"   {family} seed {seed}: "
            + " ".join(f"{p} {scores[p][-1].pct_oracle_last_third:.0f}%" for p in sizes.policies)
        )
    info = {"seconds": dict(seconds), "job_runs": dict(job_runs), "off_policy": off_policy}
    return FamilyResult(family, scores, blind), info


def verdicts(res: FamilyResult, policy: str = "project") -> list[str]:
    """The goals of the learning issue for one family: 'ok ...' or 'PROJECT LOSES ...'."""
    out = []
    pct = statistics.fmean(res.pct(policy))
    checks = [
        (f"{pct:.1f}% of the oracle (goal >= {GOAL_PCT_ORACLE:.0f}%)", pct >= GOAL_PCT_ORACLE)
    ]
    if "random" in res.scores:
        r = res.regret_ratio(policy, "random")
        checks.append(
            (
                f"regret {r:.2f}x random (goal <= {GOAL_REGRET_VS_RANDOM})",
                r <= GOAL_REGRET_VS_RANDOM,
            )
        )
    if "mabwiser" in res.scores:
        r = res.regret_ratio(policy, "mabwiser")
        floor = res.blind_ratio("mabwiser")
        blind = "" if math.isnan(floor) else f"; the days before any click matures: {floor:.2f}x"
        checks.append(
            (
                f"regret {r:.2f}x MABWiser (goal <= {GOAL_REGRET_VS_MABWISER}{blind})",
                r <= GOAL_REGRET_VS_MABWISER,
            )
        )
    top = res.top_value(policy)
    checks.append(
        (f"top value right {top:.0f}% (goal >= {GOAL_TOP_VALUE:.0f}%)", top >= GOAL_TOP_VALUE)
    )
    swap = res.swap_days(policy)
    if swap is not None:
        # (the median over seeds of the days; infinite when most seeds never got back)
        back = (
            f"back at 80% of the new oracle in {swap:.0f} days"
            if math.isfinite(swap)
            else "not back at 80% of the new oracle within the run"
        )
        checks.append(
            (f"{back} (median seed; goal <= {GOAL_SWAP_DAYS} days)", swap <= GOAL_SWAP_DAYS)
        )
    miss = "PROJECT LOSES" if policy == "project" else f"{policy} misses"
    for text, ok in checks:
        out.append(f"{res.family}: {'ok' if ok else miss}: {text}")
    return out


def format_family_table(results: Sequence[FamilyResult], policies: Sequence[str]) -> str:
    head = [
        "family",
        *[f"{p} %orc" for p in policies],
        "sd(project)",
        "regret/rand",
        "regret/mab",
        "blind/mab",
        "top-value %",
        "swap days",
    ]
    lines = [head]
    for r in results:
        row = [r.family]
        row += [f"{statistics.fmean(r.pct(p)):.1f}" for p in policies]
        pp = "project" if "project" in policies else policies[0]
        row.append(f"{_spread(r.pct(pp))['sd']:.1f}")
        row.append(f"{r.regret_ratio(pp, 'random'):.2f}" if "random" in policies else "-")
        row.append(f"{r.regret_ratio(pp, 'mabwiser'):.2f}" if "mabwiser" in policies else "-")
        floor = r.blind_ratio("mabwiser") if "mabwiser" in policies else float("nan")
        row.append("-" if math.isnan(floor) else f"{floor:.2f}")
        row.append(f"{r.top_value(pp):.0f}")
        sw = r.swap_days(pp)
        row.append("-" if sw is None else f"{sw:.0f}")
        lines.append(row)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def plot(results: Sequence[FamilyResult], path: Path) -> None:
    """Per family, the daily share of the oracle (mean over seeds) of every policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = max(1, -(-len(results) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, r in zip(axes.ravel(), results, strict=False):
        for policy, runs in r.scores.items():
            length = min(len(s.daily_pct) for s in runs)
            mean = np.mean([s.daily_pct[:length] for s in runs], axis=0)
            ax.plot(mean, label=policy)
        ax.set_title(r.family)
        ax.set_ylim(0, 105)
        ax.set_xlabel("day")
        ax.set_ylabel("% of oracle")
    for ax in axes.ravel()[len(results) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(server: Server, sizes: LearnSizes, log: Callable[[str], None] = print) -> BenchResult:
    res = BenchResult(
        "learning",
        {
            "seeds": sizes.seeds,
            "days": sizes.days,
            "ads_per_day": sizes.ads_per_day,
            "families": list(sizes.families),
            "policies": list(sizes.policies),
        },
    )
    if "project" in sizes.policies:
        # The run's template (bench/harness.py), which every project run clones.
        with psycopg.connect(server.url(server.template())) as conn:
            maturation = Maturation.read(conn)
            _, left_out = job_calendar(conn)
        res.notes.append("jobs not run (no agents): " + ", ".join(left_out))
    else:
        maturation = Maturation()
    res.notes.append(
        "MABWiser and joint_ts learn daily from clicks of impressions (purchases of "
        f"impressions in the conversion family) from age {maturation.clicks} "
        f"({maturation.purchases}) days; MABWiser gets each ad's counts once, at that age"
    )
    results = []
    for family in sizes.families:
        fr, info = run_family(server, family, sizes, maturation, log)
        results.append(fr)
        res.details[family] = _details(fr, info)
        if "joint_ts" in sizes.policies:
            # The same goals for the reference model: they are reachable on this data.
            res.details[family]["joint_ts_verdicts"] = verdicts(fr, "joint_ts")
        _rows(res, fr)
        if info["off_policy"]:
            res.notes.append(_off_policy_note(family, info["off_policy"]))
        for v in verdicts(fr) if "project" in sizes.policies else []:
            res.notes.append(v)
    table = format_family_table(results, sizes.policies)
    res.details["table"] = table
    log(table)
    png = server.work / "bench_learning.png"
    plot(results, png)
    res.details["plot"] = str(png)
    return res


def _off_policy_note(family: str, checks: list[dict[str, Any]]) -> str:
    done = [c for c in checks if c["raked"]["estimate"] is not None]
    if not done:
        return f"{family}: evaluate_policy had no matured ads with logged propensities"

    def covered(name: str) -> int:
        return sum(
            1
            for c in done
            if c[name]["lower"] is not None and c[name]["lower"] <= c["truth"] <= c[name]["upper"]
        )

    truth = statistics.fmean(c["truth"] for c in done)
    raked = statistics.fmean(c["raked"]["estimate"] for c in done)
    snips = statistics.fmean(c["snips"]["estimate"] for c in done)
    return (
        f"{family}: evaluate_policy(uniform elements, ctr) raked {100 * raked:.3f}%, "
        f"self-normalised {100 * snips:.3f}%, truth {100 * truth:.3f}% (the same ads as "
        f"delivered); intervals cover it in {covered('raked')} and {covered('snips')} of "
        f"{len(checks)}"
    )


def _details(fr: FamilyResult, info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": FAMILIES[fr.family].description, **info}
    if fr.blind:
        out["blind_days_regret"] = _spread(fr.blind)
        if "mabwiser" in fr.scores:
            out["blind_days_regret_over_mabwiser"] = fr.blind_ratio("mabwiser")
    for p in fr.scores:
        out[p] = {
            "pct_oracle_last_third": _spread(fr.pct(p)),
            "regret": _spread(fr.regret(p)),
            "top_value_accuracy_pct": fr.top_value(p),
            "swap_recovery_days_median": fr.swap_days(p),
            "per_seed_pct": fr.pct(p),
        }
    return out


def _rows(res: BenchResult, fr: FamilyResult) -> None:
    p = "project" if "project" in fr.scores else next(iter(fr.scores))
    pct = statistics.fmean(fr.pct(p))
    for alt, label in (
        ("mabwiser", "MABWiser TS"),
        ("joint_ts", "joint logistic TS"),
        ("random", "random"),
    ):
        if alt in fr.scores and alt != p:
            res.rows.append(
                Row(
                    f"{fr.family}: % of oracle, last third",
                    "%",
                    pct,
                    statistics.fmean(fr.pct(alt)),
                    label,
                    lower_is_better=False,
                )
            )
    for alt, label in (("random", "random"), ("mabwiser", "MABWiser TS")):
        if alt in fr.scores and alt != p:
            res.rows.append(
                Row(
                    f"{fr.family}: cumulative regret",
                    "reward",
                    statistics.fmean(fr.regret(p)),
                    statistics.fmean(fr.regret(alt)),
                    label,
                    lower_is_better=True,
                )
            )
    # Top-value accuracy and swap recovery can be 0 (no ratio to show): they are in the
    # verdict notes and the details, not in the rows.
