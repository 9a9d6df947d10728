"""Reference learners shared by the demo (sim/demo.py) and the learning benchmark
(bench/learning.py), so both compare the project with the same MABWiser policy.

`DimensionThompson` is MABWiser Thompson sampling per brand and per dimension (arms = the
dimension's values), fed binary trials: each matured ad's successes (clicks, or purchases
for the sales objective) and failures (the rest of its impressions). `DemoShadow` runs it
beside the demo's V2 on the same truth (the random twin is sim.baselines.TwinMarkets): it
creates no ads in the database; each day it chooses as many element combinations as V2
launched, is scored by the truth's expected reward, and learns from simulated counts of its
own ads once they are as old as the metric's maturation (docs/rewards.md#maturation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from sim.truth import Truth

Tags = Mapping[str, str]


class DimensionThompson:
    """MABWiser Thompson sampling per (brand, dimension). The bandits' seeds are drawn from
    `rng` in brand-then-dimension order, and choices of an unfitted brand are uniform."""

    def __init__(
        self,
        dimensions: Mapping[str, Sequence[str]],
        brands: Sequence[int],
        rng: np.random.Generator,
    ) -> None:
        from mabwiser.mab import MAB, LearningPolicy

        self.dimensions = {d: tuple(v) for d, v in dimensions.items()}
        self.rng = rng
        self.bandits = {
            (b, d): MAB(
                arms=list(range(len(self.dimensions[d]))),
                learning_policy=LearningPolicy.ThompsonSampling(),
                seed=int(rng.integers(2**31)),
            )
            for b in brands
            for d in self.dimensions
        }
        self.fitted: set[int] = set()

    def random_tags(self) -> dict[str, str]:
        return {d: v[int(self.rng.integers(len(v)))] for d, v in self.dimensions.items()}

    def choose(self, brand: int, n: int) -> list[dict[str, str]]:
        if brand not in self.fitted:
            return [self.random_tags() for _ in range(n)]
        out: list[dict[str, str]] = [{} for _ in range(n)]
        for d, values in self.dimensions.items():
            mab = self.bandits[(brand, d)]
            for t in out:
                t[d] = values[int(mab.predict())]
        return out

    def feed(self, brand: int, data: Sequence[tuple[Tags, int, int]]) -> None:
        """Learn from (tags, successes, trials) of ads not fed before: every trial is one
        binary reward for the ad's value in each dimension."""
        if not data:
            return
        succ = np.array([s for _, s, _ in data], dtype=int).clip(min=0)
        fail = np.array([n - s for _, s, n in data], dtype=int).clip(min=0)
        rewards = np.concatenate([np.ones(int(succ.sum())), np.zeros(int(fail.sum()))])
        for d, values in self.dimensions.items():
            arms = np.array([values.index(t[d]) for t, _, _ in data])
            decisions = np.concatenate([np.repeat(arms, succ), np.repeat(arms, fail)])
            _fit(self.bandits[(brand, d)], decisions, rewards, partial=brand in self.fitted)
        self.fitted.add(brand)


def _fit(mab: Any, decisions: np.ndarray, rewards: np.ndarray, partial: bool) -> None:
    """MAB.fit / MAB.partial_fit of MABWiser's Thompson sampling on arrays built above
    (arms of the bandit, rewards 0.0 / 1.0: always valid), without the public methods' input
    checks. Those walk the rewards in Python (`sum(rewards)` and a sort for binary values),
    one step per trial, which made feeding the demo's impressions 17 of its 23 s a run; the
    fit itself, MABWiser's own `_imp.fit` / `_imp.partial_fit`, is the same call
    (tests/test_sim_policies.py checks the counts against the public methods)."""
    if partial and mab._is_initial_fit:
        mab._imp.partial_fit(decisions, rewards, None)
    else:
        mab._imp.fit(decisions, rewards, None)
        mab._is_initial_fit = True


@dataclass
class _Pending:
    brand: int
    tags: dict[str, str]
    day: int


@dataclass
class DemoShadow:
    """MABWiser beside the demo's V2, on the demo's truth.

    Each ad of the MABWiser policy gets an audience context drawn as the market draws it
    (the planted hook confounding included) and the impressions of `maturation_days` days
    at the brand's CPM and the market's daily budget; its successes are binomial draws at
    the truth's expected lifetime rate (CTR for the traffic and awareness objectives,
    purchases per impression for the sales one). It is fed once, when it reaches that age."""

    truth: Truth
    seed: int
    maturation_days: int = 3
    purchase_maturation_days: int = 7
    mabwiser: DimensionThompson = field(init=False)
    rng: np.random.Generator = field(init=False)
    pending: list[_Pending] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng([self.seed, 41])
        self.mabwiser = DimensionThompson(
            self.truth.dimensions,
            [b.index for b in self.truth.brands],
            np.random.default_rng([self.seed, 42]),
        )

    def day(self, brand: int, day: int, n: int) -> tuple[float, ...]:
        """The true rewards of the `n` ads MABWiser chooses for `brand` on `day` (a day
        index from the start), scored like V2's: elements only, the audience mix averaged."""
        return self.day_scored(brand, day, n)[0]

    def day_scored(
        self, brand: int, day: int, n: int
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """As `day`, with the same ads' expected objective metric (Truth.true_metric)."""
        tags = self.mabwiser.choose(brand, n)
        self.pending += [_Pending(brand, t, day) for t in tags]
        return (
            tuple(self.truth.true_reward(brand, t) for t in tags),
            tuple(self.truth.true_metric(brand, t) for t in tags),
        )

    def _age_needed(self, brand: int) -> int:
        sales = self.truth.brands[brand].reward_objective == "CONVERSIONS"
        return self.purchase_maturation_days if sales else self.maturation_days

    def _counts(self, p: _Pending, days: int) -> tuple[int, int]:
        b = self.truth.brands[p.brand]
        params = self.truth.params
        hook = p.tags.get(self.truth.strongest_dimension)
        stage, audience = self.truth.draw_audience(self.rng, hook)
        rates = self.truth.lifetime_rates(b, p.tags, stage, audience)
        spend = params.daily_budget * (params.spend_low + params.spend_high) / 2 * days
        imps = int(spend / rates.cpm * 1000)
        rate = rates.ctr
        if b.reward_objective == "CONVERSIONS":
            rate = rates.ctr * rates.conversion_rate
        return int(self.rng.binomial(imps, min(max(rate, 0.0), 1.0))), imps

    def learn(self, day: int) -> None:
        """Feed MABWiser the ads that matured by the morning after `day`."""
        ready: dict[int, list[tuple[Tags, int, int]]] = {}
        keep = []
        for p in self.pending:
            age = day + 1 - p.day
            need = self._age_needed(p.brand)
            if age < need:
                keep.append(p)
                continue
            succ, imps = self._counts(p, need)
            ready.setdefault(p.brand, []).append((p.tags, succ, imps))
        self.pending = keep
        for brand, data in sorted(ready.items()):
            self.mabwiser.feed(brand, data)


def read_maturation(conn: psycopg.Connection) -> tuple[int, int]:
    """Days until clicks (ctr) and purchases (conversion_rate) mature, from
    genome.reward_metrics (docs/rewards.md#maturation)."""
    rows = dict(
        conn.execute(
            "SELECT metric, maturation_days FROM genome.reward_metrics "
            "WHERE metric IN ('ctr', 'conversion_rate')"
        ).fetchall()
    )
    return int(rows["ctr"]), int(rows["conversion_rate"])
