"""Market families for the learning benchmark (bench/learning.py).

Each family is a seeded truth over the project's element dimensions: per brand and per day,
the expected fresh CTR (log-odds), conversion rate (log-odds) and order value (log) of every
element combination, the expected reward of a combination on a day (lifetime CTR for the
click families, ROAS for the conversion family), and the oracle (the best combination per
day). The families were written from how ad markets behave, not from how any learner
works; `FAMILIES` lists them:

- additive: additive log-odds effects, two strong dimensions, three weak ones;
- sparse: one dimension matters, the others have no effect at all;
- interactions: small main effects and large pairwise interactions (hook x angle,
  template x visual style);
- spread_0.3, spread_0.5: `additive` plus creative-to-creative spread (each ad's CTR times
  a mean-one lognormal with that sd);
- drift: `additive` whose effects random-walk day by day, whose strong dimension's best
  value swaps with a middling one mid-run, with faster ad fatigue;
- drift_spread: `drift` with the creative-to-creative spread of `spread_0.3`: a market that
  moves, bought with creatives that differ as real ones do;
- delivery: `additive` bought as Meta delivers: each ad's budget spread (lognormal, sd 0.8)
  and tilted toward ads that click (budget times CTR / the brand's base CTR), a market-wide
  CTR shock each day (sd 0.2) and each ad's CTR scattering day to day (sd 0.3), so
  impressions are neither equally delivered nor independent;
- conversion: a sales objective: elements move CTR, conversion and order value, the reward
  is ROAS, purchases arrive with delays and noisy order values;
- sharing: three brands of one category (all opted in to cross_brand_sharing) with
  correlated effects; the measured brand starts after its peers have run for a while;
- confounded: `additive` whose audiences differ (a problem-aware audience clicks far more
  than an unaware one) and whose app shows one ordinary hook mostly to the problem-aware
  audience, as a marketer targets a campaign: that hook's ads click more for their
  audience, not for the hook. The reward is scored as every family's is, on the elements
  alone, here with the audience mix of an untargeted ad (the demo's framing).

Delivery (spend, impressions, clicks, fatigue, delayed purchases) is the demo's:
`sim.market.deliver`. `FamilyMarket` writes it to the database for the project;
`LocalMarket` keeps it in memory for the policies that do not need a database.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np

from sim.market import Market, ad_budget, deliver
from sim.truth import (
    ELEMENT_DIMENSIONS,
    OBJECTIVE_MAP,
    BrandTruth,
    MarketParams,
    Percentiles,
    Rates,
    lifetime_fatigue,
    logit,
    sigmoid,
)

Tags = Mapping[str, str]

# The audience context every family's ads get: the families' effects do not depend on it.
NEUTRAL_CONTEXT = ("solution_aware", "interest")
# The confounded family's audiences (awareness stages): each one's share of an untargeted
# ad's delivery and its CTR log-odds shift, whatever the creative.
AUDIENCE_MIX = {
    "unaware": (0.3, -0.7),
    "problem_aware": (0.15, 1.0),
    "solution_aware": (0.3, 0.0),
    "product_aware": (0.15, 0.2),
    "most_aware": (0.1, 0.3),
}
WARM_AUDIENCE = "problem_aware"
CATEGORY_BASES: dict[str, tuple[float, float, float, float]] = {
    # base CTR, conversion rate, order value, CPM (as the demo's categories)
    "skincare": (0.011, 0.030, 42.0, 11.0),
    "supplements": (0.013, 0.035, 38.0, 10.0),
    "home_fitness": (0.009, 0.024, 85.0, 13.0),
}
# The best value of a dimension stands at least this many of the dimension's effect sds
# above the runner-up, so "the true best value" is a well-posed question for the top-value
# accuracy (0.1 log-odds for a dimension of sd 0.5).
BEST_VALUE_MARGIN_SD = 0.2


@dataclass(frozen=True)
class FamilySpec:
    """How one family's truth is drawn. Effect sizes are log-odds standard deviations of
    the value effects per dimension (missing dimensions have no effect)."""

    name: str
    description: str
    ctr_sd: Mapping[str, float]
    strong: tuple[str, ...]
    objective: str = "OUTCOME_TRAFFIC"
    reward: str = "ctr"  # "ctr" (lifetime CTR) or "roas"
    cvr_sd: Mapping[str, float] = field(default_factory=dict)
    aov_sd: Mapping[str, float] = field(default_factory=dict)
    interactions: tuple[tuple[str, str, float], ...] = ()
    ad_ctr_sd: float = 0.0
    # Breakout creatives: this share of the ads click breakout_factor times as much as their
    # elements and spread say (a heavy right tail of creative quality), the whole spread
    # rescaled to mean one.
    breakout_share: float = 0.0
    breakout_factor: float = 4.0
    drift_sd: float = 0.0  # per-day random-walk sd of every effect (log-odds)
    swap_dimension: str | None = None
    fatigue_rate: float | None = None
    n_brands: int = 2
    same_category: bool = False
    # Brand effects: sqrt(1 - d²) x the category's + d x the brand's own (same variance).
    brand_deviation: float = 1.0
    focus_start_fraction: float = 0.0  # measured brand starts after this share of the run
    # The share of the targeted hook's ads the app shows to WARM_AUDIENCE (0: every ad gets
    # NEUTRAL_CONTEXT and the audience moves nothing).
    targeted_share: float = 0.0
    # Delivery, as MarketParams' fields of the same names (None: the demo's).
    budget_sd: float | None = None
    delivery_tilt: float | None = None
    day_ctr_sd: float | None = None
    ad_day_ctr_sd: float | None = None


_ADDITIVE_SD = {
    "hook_type": 0.5,
    "template_category": 0.4,
    "belief_angle": 0.15,
    "visual_style": 0.1,
    "color_mode": 0.05,
}
_ADDITIVE_STRONG = ("hook_type", "template_category")
# Meta-like delivery (MarketParams' fields): budgets spread and tilted toward the ads that
# click, a market-wide CTR shock each day, each ad's CTR scattering day to day.
_META_DELIVERY: dict[str, float] = {
    "budget_sd": 0.8,
    "delivery_tilt": 1.0,
    "day_ctr_sd": 0.2,
    "ad_day_ctr_sd": 0.3,
}

_DRIFT = FamilySpec(
    "drift",
    "additive effects that drift daily; the best hook swaps mid-run; fast fatigue",
    _ADDITIVE_SD,
    _ADDITIVE_STRONG,
    drift_sd=0.02,
    swap_dimension="hook_type",
    fatigue_rate=0.6,
)

FAMILIES: dict[str, FamilySpec] = {
    s.name: s
    for s in (
        FamilySpec(
            "additive",
            "additive log-odds effects, strong hook and template, weak others",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
        ),
        FamilySpec(
            "sparse",
            "only the hook matters, every other dimension has no effect",
            {"hook_type": 0.6},
            ("hook_type",),
        ),
        FamilySpec(
            "interactions",
            "small main effects, large hook x angle and template x visual interactions",
            {d: 0.15 for d in ELEMENT_DIMENSIONS},
            ("hook_type", "belief_angle"),
            interactions=(
                ("hook_type", "belief_angle", 0.45),
                ("template_category", "visual_style", 0.3),
            ),
        ),
        FamilySpec(
            "spread_0.3",
            "additive plus ad-level lognormal CTR spread, sd 0.3",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
            ad_ctr_sd=0.3,
        ),
        FamilySpec(
            "spread_0.5",
            "additive plus ad-level lognormal CTR spread, sd 0.5",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
            ad_ctr_sd=0.5,
        ),
        _DRIFT,
        replace(
            _DRIFT,
            name="drift_spread",
            description="drift plus ad-level lognormal CTR spread, sd 0.3",
            ad_ctr_sd=0.3,
        ),
        FamilySpec(
            "delivery",
            "additive; Meta-like delivery: unequal budgets tilted toward ads that click, "
            "a market-wide CTR shock each day, each ad's CTR scattering day to day",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
            **_META_DELIVERY,
        ),
        FamilySpec(
            "breakout",
            "additive; creatives spread with a heavy right tail (5% of ads click 4 times as "
            "much) and Meta-like delivery that pours budget into them",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
            ad_ctr_sd=0.3,
            breakout_share=0.05,
            **_META_DELIVERY,
        ),
        FamilySpec(
            "conversion",
            "sales objective: reward ROAS; hook moves CTR, angle conversion, template value",
            {"hook_type": 0.4, "template_category": 0.1, "visual_style": 0.1},
            ("hook_type", "belief_angle"),
            objective="OUTCOME_SALES",
            reward="roas",
            cvr_sd={"belief_angle": 0.5, "hook_type": 0.1},
            aov_sd={"template_category": 0.15},
        ),
        FamilySpec(
            "sharing",
            "a new brand in a category of opted-in peers with correlated effects",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
            n_brands=3,
            same_category=True,
            brand_deviation=0.3,
            focus_start_fraction=0.4,
        ),
        FamilySpec(
            "confounded",
            "additive; an ordinary hook shown mostly to the warm audience, which clicks more",
            _ADDITIVE_SD,
            _ADDITIVE_STRONG,
            targeted_share=0.85,
        ),
    )
}


def _axis(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = len(values)
    return values.reshape(shape)


def _effects(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """Centred value effects with a clear best value (BEST_VALUE_MARGIN_SD above the next)."""
    if sd <= 0:
        return np.zeros(n)
    e = rng.normal(0.0, sd, n)
    e -= e.mean()
    order = np.argsort(e)
    if n > 1:
        e[order[-1]] = max(e[order[-1]], e[order[-2]] + BEST_VALUE_MARGIN_SD * sd)
    return e


@dataclass
class BrandEffects:
    """One brand's effects: per dimension the CTR / conversion log-odds and log order value
    of each value on day 0, the daily random walk of the CTR effects, the swap, and the
    pairwise interaction matrices (CTR log-odds)."""

    ctr: dict[str, np.ndarray]
    cvr: dict[str, np.ndarray]
    aov: dict[str, np.ndarray]
    walk: dict[str, np.ndarray]  # (days, n_values) cumulative drift of the CTR effects
    interactions: list[tuple[str, str, np.ndarray]]
    swap: tuple[str, int, int] | None  # (dimension, best value, value it swaps with)


@dataclass
class FamilyTruth:
    """A seeded family truth: what `Market` needs to set the brands up (seed, params,
    brands with baselines) and everything the benchmark scores against."""

    spec: FamilySpec
    seed: int
    days: int
    dimensions: dict[str, tuple[str, ...]]
    params: MarketParams
    brands: list[BrandTruth]
    effects: list[BrandEffects]
    start_days: list[int]
    # The hook the app shows mostly to the warm audience (the confounded family), else None.
    targeted_hook: str | None = None
    _grids: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    # ----- addressing -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def focus(self) -> list[int]:
        """The brands the benchmark scores (the new brand in `sharing`, else all)."""
        if self.spec.focus_start_fraction > 0:
            return [len(self.brands) - 1]
        return list(range(len(self.brands)))

    @property
    def swap_day(self) -> int | None:
        return self.days // 2 if self.spec.swap_dimension else None

    def element_tags(self, tags: Tags) -> dict[str, str]:
        return {d: tags[d] for d in self.dimensions if d in tags}

    def draw_audience(self, rng: np.random.Generator, hook: str | None) -> tuple[str, str]:
        """The audience the app gives an ad: NEUTRAL_CONTEXT, or in the confounded family an
        awareness stage from AUDIENCE_MIX, WARM_AUDIENCE for targeted_share of the targeted
        hook's ads."""
        if self.targeted_hook is None:
            return NEUTRAL_CONTEXT
        stages = list(AUDIENCE_MIX)
        if hook == self.targeted_hook and rng.random() < self.spec.targeted_share:
            return WARM_AUDIENCE, NEUTRAL_CONTEXT[1]
        mix = np.array([AUDIENCE_MIX[a][0] for a in stages])
        return stages[int(rng.choice(len(stages), p=mix / mix.sum()))], NEUTRAL_CONTEXT[1]

    def index(self, tags: Tags) -> tuple[int, ...]:
        return tuple(self.dimensions[d].index(tags[d]) for d in self.dimensions)

    def tags(self, index: tuple[int, ...] | np.ndarray) -> dict[str, str]:
        return {d: self.dimensions[d][int(i)] for d, i in zip(self.dimensions, index, strict=True)}

    # ----- the truth --------------------------------------------------------------------

    def ctr_effects(self, brand: int, day: int) -> dict[str, np.ndarray]:
        """Per dimension the CTR log-odds effect of each value on `day` (drift and swap)."""
        e = self.effects[brand]
        k = min(max(day, 0), self.days - 1)
        out = {d: e.ctr[d] + e.walk[d][k] for d in self.dimensions}
        if e.swap is not None and self.swap_day is not None and day >= self.swap_day:
            d, a, b = e.swap
            v = out[d].copy()
            v[a], v[b] = v[b], v[a]
            out[d] = v
        return out

    def _shift(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        dims = list(self.dimensions)
        total = np.zeros(tuple(len(self.dimensions[d]) for d in dims))
        for i, d in enumerate(dims):
            total = total + _axis(parts[d], i, len(dims))
        return total

    def _audience_ctr(self, logits: Any, stage: str | None = None) -> Any:
        """CTR from the elements' log-odds: as they are, or in the confounded family shifted
        by the awareness `stage` (with no stage, averaged over an untargeted ad's audience
        mix, AUDIENCE_MIX)."""
        if self.targeted_hook is None:
            return sigmoid(logits)
        if stage is not None:
            return sigmoid(logits + AUDIENCE_MIX[stage][1])
        return sum(share * sigmoid(logits + shift) for share, shift in AUDIENCE_MIX.values())

    def ctr_logit_grid(self, brand: int, day: int) -> np.ndarray:
        """Fresh-ad CTR log-odds of every combination on `day`."""
        b = self.brands[brand]
        dims = list(self.dimensions)
        grid = logit(b.base_ctr) + self._shift(self.ctr_effects(brand, day))
        for da, db, m in self.effects[brand].interactions:
            ia, ib = dims.index(da), dims.index(db)
            if ia > ib:
                ia, ib, m = ib, ia, m.T
            shape = [1] * len(dims)
            shape[ia], shape[ib] = m.shape
            grid = grid + m.reshape(shape)
        return grid

    def reward_grid(self, brand: int, day: int) -> np.ndarray:
        """Expected reward of every combination for an ad launched on `day`: its lifetime
        CTR (fresh CTR x mean fatigue over the ad's life), or for `reward == 'roas'` its
        expected purchase value per spend."""
        key = (brand, day)
        if key not in self._grids:
            b = self.brands[brand]
            # (an untargeted ad's audience mix in the confounded family: the elements' worth)
            ctr = self._audience_ctr(self.ctr_logit_grid(brand, day)) * b.lifetime_fatigue
            if self.spec.reward == "roas":
                e = self.effects[brand]
                cvr = sigmoid(logit(b.base_cvr) + self._shift(e.cvr))
                aov = b.base_aov * np.exp(self._shift(e.aov))
                grid = 1000.0 * ctr * cvr * aov / b.base_cpm
            else:
                grid = np.asarray(ctr)
            if len(self._grids) > 256:
                self._grids.clear()
            self._grids[key] = grid
        return self._grids[key]

    def expected_reward(self, brand: int, tags: Tags, day: int) -> float:
        return float(self.reward_grid(brand, day)[self.index(tags)])

    def oracle(self, brand: int, day: int) -> tuple[dict[str, str], float]:
        """The best combination on `day` and its expected reward."""
        grid = self.reward_grid(brand, day)
        idx = np.unravel_index(int(np.argmax(grid)), grid.shape)
        return self.tags(idx), float(grid[idx])

    def best_values(self, brand: int, days: Iterable[int]) -> dict[str, str]:
        """Per dimension, the oracle's most frequent value over `days` (the true best value
        of a stationary market; of the period for a drifting one)."""
        counts: dict[str, Counter[str]] = {d: Counter() for d in self.dimensions}
        for day in days:
            for d, v in self.oracle(brand, day)[0].items():
                counts[d][v] += 1
        return {d: c.most_common(1)[0][0] for d, c in counts.items() if c}

    def random_reward(self, brand: int, day: int) -> float:
        """The expected reward of uniformly random elements on `day`."""
        return float(self.reward_grid(brand, day).mean())

    def fresh_rates(self, brand: int, tags: Tags, day: int, stage: str | None = None) -> Rates:
        """Expected fresh rates of an ad with these elements launched on `day`; in the
        confounded family shown to the awareness `stage` (its CTR shift), or with no stage
        given over an untargeted ad's audience mix."""
        b = self.brands[brand]
        e = self.effects[brand]
        idx = self.index(tags)
        ctr = float(self._audience_ctr(self.ctr_logit_grid(brand, day)[idx], stage))
        cvr_shift = sum(float(e.cvr[d][i]) for d, i in zip(self.dimensions, idx, strict=True))
        aov_shift = sum(float(e.aov[d][i]) for d, i in zip(self.dimensions, idx, strict=True))
        return Rates(
            ctr=ctr,
            conversion_rate=float(sigmoid(logit(b.base_cvr) + cvr_shift)),
            aov=b.base_aov * math.exp(aov_shift),
            cpm=b.base_cpm,
        )

    def launch_rates(
        self, brand: int, tags: Tags, day: int, n: int, stage: str | None = None
    ) -> Rates:
        """Rates of the `n`-th ad launched: the fresh rates with this ad's own CTR spread
        (a lognormal, times breakout_factor for a breakout, rescaled to mean one, so the
        expected reward is unchanged)."""
        r = self.fresh_rates(brand, tags, day, stage)
        sd, share = self.spec.ad_ctr_sd, self.spec.breakout_share
        if sd <= 0 and share <= 0:
            return r
        rng = np.random.default_rng([self.seed, 11, n])
        noise = rng.lognormal(-(sd**2) / 2, sd) if sd > 0 else 1.0
        if share > 0:
            factor = self.spec.breakout_factor
            noise *= (factor if rng.random() < share else 1.0) / (1.0 - share + share * factor)
        return replace(r, ctr=min(r.ctr * float(noise), 0.5))

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.name,
            "seed": self.seed,
            "days": self.days,
            "strong": list(self.spec.strong),
            "start_days": self.start_days,
            "swap_day": self.swap_day,
            "targeted_hook": self.targeted_hook,
            "brands": [
                {
                    "index": b.index,
                    "category": b.category,
                    "oracle_first_day": self.oracle(b.index, self.start_days[b.index])[0],
                    "oracle_last_day": self.oracle(b.index, self.days - 1)[0],
                }
                for b in self.brands
            ],
        }


# ----- building ---------------------------------------------------------------------------


def _draw_effects(
    spec: FamilySpec,
    rng: np.random.Generator,
    dims: dict[str, tuple[str, ...]],
    days: int,
    category: BrandEffects | None,
) -> BrandEffects:
    def one(sds: Mapping[str, float], base: dict[str, np.ndarray] | None) -> dict:
        out = {}
        for d, vals in dims.items():
            own = _effects(rng, len(vals), sds.get(d, 0.0))
            if base is not None:
                w = spec.brand_deviation
                own = math.sqrt(1 - w * w) * base[d] + w * own
            out[d] = own
        return out

    ctr = one(spec.ctr_sd, category.ctr if category else None)
    cvr = one(spec.cvr_sd, category.cvr if category else None)
    aov = one(spec.aov_sd, category.aov if category else None)
    walk = {
        d: np.cumsum(rng.normal(0.0, spec.drift_sd, (days, len(v))), axis=0)
        if spec.drift_sd > 0
        else np.zeros((days, len(v)))
        for d, v in dims.items()
    }
    inter = []
    for da, db, sd in spec.interactions:
        m = rng.normal(0.0, sd, (len(dims[da]), len(dims[db])))
        m -= m.mean(axis=0, keepdims=True)
        m -= m.mean(axis=1, keepdims=True)
        inter.append((da, db, m))
    swap = None
    if spec.swap_dimension:
        d = spec.swap_dimension
        order = np.argsort(-ctr[d])
        # The best value trades places with the value ranked in the middle.
        swap = (d, int(order[0]), int(order[len(order) // 2]))
    return BrandEffects(ctr, cvr, aov, walk, inter, swap)


def _baselines(truth: FamilyTruth, brand: int) -> dict[str, Percentiles]:
    """Percentiles of uniformly random ads on day 0, as the brand's baseline cohort."""
    b = truth.brands[brand]
    e = truth.effects[brand]
    grid = sigmoid(truth.ctr_logit_grid(brand, 0)) * b.lifetime_fatigue
    ctr = grid.ravel()
    cvr = np.broadcast_to(sigmoid(logit(b.base_cvr) + truth._shift(e.cvr)), grid.shape).ravel()
    aov = np.broadcast_to(b.base_aov * np.exp(truth._shift(e.aov)), grid.shape).ravel()
    cpm = np.full_like(ctr, b.base_cpm)
    out = {}
    for m, v in {
        "ctr": ctr,
        "conversion_rate": cvr,
        "roas": 1000.0 * ctr * cvr * aov / cpm,
        "cpm": cpm,
        "cpc": cpm / (1000.0 * ctr),
    }.items():
        p25, med, p75 = np.quantile(v, [0.25, 0.5, 0.75])
        out[m] = Percentiles(float(p25), float(med), float(p75))
    return out


def build_family(
    name: str,
    seed: int,
    days: int = 50,
    dimensions: Mapping[str, tuple[str, ...] | list[str]] | None = None,
    daily_budget: float = 40.0,
) -> FamilyTruth:
    """The seeded truth of family `name` over `days` days (same seed -> same truth)."""
    spec = FAMILIES[name]
    dims = {d: tuple(v) for d, v in (dimensions or ELEMENT_DIMENSIONS).items()}
    params = MarketParams(run_days=14, daily_budget=daily_budget)
    if spec.fatigue_rate is not None:
        params = replace(params, fatigue_rate=spec.fatigue_rate)
    delivery = {
        f: getattr(spec, f)
        for f in ("budget_sd", "delivery_tilt", "day_ctr_sd", "ad_day_ctr_sd")
        if getattr(spec, f) is not None
    }
    params = replace(params, **delivery)
    cats = list(CATEGORY_BASES)
    category = (
        _draw_effects(spec, np.random.default_rng([seed, 20]), dims, days, None)
        if spec.same_category
        else None
    )
    brands: list[BrandTruth] = []
    effects: list[BrandEffects] = []
    for i in range(spec.n_brands):
        rng = np.random.default_rng([seed, 21, i])
        cat = cats[0] if spec.same_category else cats[i % len(cats)]
        base_ctr, base_cvr, base_aov, base_cpm = CATEGORY_BASES[cat]
        cpm = base_cpm * float(np.exp(rng.normal(0, 0.1)))
        brands.append(
            BrandTruth(
                index=i,
                name=f"{name} brand {i + 1} ({cat})",
                slug=f"lb-{name.replace('.', '')}-{seed}-{i + 1}",
                category=cat,
                objective=spec.objective,
                reward_objective=OBJECTIVE_MAP[spec.objective],
                cross_brand_sharing=True,
                base_ctr=base_ctr * float(np.exp(rng.normal(0, 0.1))),
                base_cvr=base_cvr * float(np.exp(rng.normal(0, 0.1))),
                base_aov=base_aov * float(np.exp(rng.normal(0, 0.1))),
                base_cpm=cpm,
                ctr_effects={},
                cvr_effects={},
                aov_effects={},
                interactions=(),
                baselines={},
                lifetime_fatigue=lifetime_fatigue(params, cpm),
            )
        )
        effects.append(_draw_effects(spec, rng, dims, days, category))
    start = round(spec.focus_start_fraction * days)
    start_days = [start if i == spec.n_brands - 1 and start else 0 for i in range(spec.n_brands)]
    truth = FamilyTruth(spec, seed, days, dims, params, brands, effects, start_days)
    if spec.targeted_share > 0:
        # An ordinary hook: the one nearest the middle of the brands' mean effects, never a
        # brand's best, so its warm audience flatters a hook worth no more than most.
        hooks = dims["hook_type"]
        mean = np.mean([e.ctr["hook_type"] for e in effects], axis=0)
        best = {int(np.argmax(e.ctr["hook_type"])) for e in effects}
        order = [int(i) for i in np.argsort(np.abs(mean - np.median(mean))) if int(i) not in best]
        truth.targeted_hook = hooks[order[0]]
    truth.brands = [replace(b, baselines=_baselines(truth, b.index)) for b in brands]
    return truth


# ----- markets ----------------------------------------------------------------------------


class FamilyMarket(Market):
    """The demo's database market on a family truth: launch dates the truth's drift, each
    ad gets its own CTR spread. Day numbers count from `start`."""

    def __init__(self, truth: FamilyTruth, start: date) -> None:
        super().__init__(truth, seed=truth.seed)  # type: ignore[arg-type]
        self.start = start

    def launch_rates(
        self,
        brand_index: int,
        elements: dict[str, str],
        stage: str,
        audience: str,
        day: date,
        n: int,
    ) -> Rates:
        truth: FamilyTruth = self.truth  # type: ignore[assignment]
        return truth.launch_rates(brand_index, elements, (day - self.start).days, n, stage)


@dataclass
class LocalAd:
    brand: int
    tags: dict[str, str]
    first_day: int
    rates: Rates
    budget: float
    cum_impressions: float = 0.0
    impressions: list[int] = field(default_factory=list)
    clicks: list[int] = field(default_factory=list)
    spend: list[float] = field(default_factory=list)
    cum_purchases: list[np.ndarray] = field(default_factory=list)
    cum_value: list[np.ndarray] = field(default_factory=list)


class LocalMarket:
    """The same delivery in memory, for policies that need no database: ads launched by
    day number, `simulate_day` delivers one day, `observed` gives the counts a learner may
    see by a day (purchases as visible by then)."""

    def __init__(self, truth: FamilyTruth) -> None:
        self.truth = truth
        self.ads: list[LocalAd] = []

    def launch(self, brand: int, tags: Tags, day: int) -> LocalAd:
        n = len(self.ads)
        rng = np.random.default_rng([self.truth.seed, 4, n])
        stage, _ = self.truth.draw_audience(
            np.random.default_rng([self.truth.seed, 5, n]), tags.get("hook_type")
        )
        rates = self.truth.launch_rates(brand, tags, day, n, stage)
        budget = ad_budget(rng, self.truth.params, rates.ctr, self.truth.brands[brand].base_ctr)
        ad = LocalAd(brand, dict(tags), day, rates, budget)
        self.ads.append(ad)
        return ad

    def simulate_day(self, day: int) -> None:
        p = self.truth.params
        live = [a for a in self.ads if a.first_day <= day < a.first_day + p.run_days]
        if not live:
            return
        d = deliver(
            np.random.default_rng([self.truth.seed, 3, day]),
            p,
            budget=np.array([a.budget for a in live]),
            cpm=np.array([a.rates.cpm for a in live]),
            ctr=np.array([a.rates.ctr for a in live]),
            cvr=np.array([a.rates.conversion_rate for a in live]),
            aov=np.array([a.rates.aov for a in live]),
            cum_impressions=np.array([a.cum_impressions for a in live]),
        )
        for i, a in enumerate(live):
            a.cum_impressions += float(d.impressions[i])
            a.impressions.append(int(d.impressions[i]))
            a.clicks.append(int(d.clicks[i]))
            a.spend.append(float(d.spend[i]))
            a.cum_purchases.append(d.cum_purchases[i])
            a.cum_value.append(d.cum_value[i])

    def observed(self, ad: LocalAd, through_day: int) -> tuple[int, int, int, float, float]:
        """(impressions, clicks, purchases, purchase value, spend) of `ad` delivered through
        `through_day`, with the purchases known by then."""
        k = max(0, min(len(ad.impressions), through_day - ad.first_day + 1))
        purchases = 0
        value = 0.0
        for j in range(k):
            lag = min(through_day - (ad.first_day + j), len(ad.cum_purchases[j]) - 1)
            purchases += int(ad.cum_purchases[j][lag])
            value += float(ad.cum_value[j][lag])
        return (
            sum(ad.impressions[:k]),
            sum(ad.clicks[:k]),
            purchases,
            value,
            sum(ad.spend[:k]),
        )


__all__ = [
    "FAMILIES",
    "FamilyMarket",
    "FamilySpec",
    "FamilyTruth",
    "LocalMarket",
    "build_family",
]
