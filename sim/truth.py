"""The ground truth of the simulated ad market.

Plain Python objects, kept apart from the learning tables, so a report can score what
Creative Genome learned against what is really true. Everything is derived from one seed.

Per brand: a category (brands share categories, and effects are correlated within one),
a Meta objective, base CTR / conversion rate / order value / CPM, and per element value an
effect on CTR and conversion rate (log-odds) and on order value (log). A few pairwise
interactions are planted, and the audience context (awareness_stage x audience_type) moves
CTR and conversion too. The context is confounded with the hook: curiosity_gap ads mostly
reach problem_aware audiences, who click more, so curiosity_gap looks good in aggregate
while it is worse than average within every stratum (a planted Simpson's paradox).

The composite reward follows Creative Genome's definition with infinite data: expected CTR,
conversion rate, ROAS and CPM, normalized p25 -> 0 and p75 -> 1 (clipped) against the
baselines the simulator writes, weighted by the objective's reward weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

Tags = Mapping[str, str]

ELEMENT_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "hook_type": (
        "curiosity_gap",
        "social_proof",
        "authority",
        "urgency",
        "scarcity",
        "fear_of_missing_out",
        "transformation",
        "before_after",
        "problem_solution",
        "testimonial",
        "statistic",
        "question",
        "bold_claim",
        "story",
        "direct_benefit",
    ),
    "belief_angle": (
        "identity",
        "aspiration",
        "fear_of_loss",
        "value_for_money",
        "scientific_proof",
        "convenience",
        "social_belonging",
        "natural_purity",
    ),
    "template_category": (
        "Testimonial",
        "Problem-Solution",
        "Before-After",
        "Lifestyle",
        "Product-Focus",
        "Comparison",
        "Educational",
        "Infographic",
        "Minimal-Text",
        "UGC-Style",
        "Professional",
        "Collage",
    ),
    "visual_style": (
        "photographic",
        "illustration",
        "flat_graphic",
        "render_3d",
        "ugc_phone",
        "minimal",
    ),
    "color_mode": ("original", "complementary", "brand"),
}
AWARENESS_STAGES: tuple[str, ...] = (
    "unaware",
    "problem_aware",
    "solution_aware",
    "product_aware",
    "most_aware",
)
AUDIENCE_TYPES: tuple[str, ...] = ("broad", "interest", "lookalike", "retargeting")
CONTEXT_KEYS: tuple[str, str] = ("awareness_stage", "audience_type")

OBJECTIVE_MAP: dict[str, str] = {
    "OUTCOME_SALES": "CONVERSIONS",
    "OUTCOME_TRAFFIC": "TRAFFIC",
    "OUTCOME_AWARENESS": "BRAND_AWARENESS",
}
REWARD_WEIGHTS: dict[str, dict[str, float]] = {
    "CONVERSIONS": {"ctr": 0.2, "conversion_rate": 0.3, "roas": 0.5},
    "TRAFFIC": {"ctr": 0.7, "conversion_rate": 0.1, "roas": 0.2},
    "BRAND_AWARENESS": {"ctr": 0.5, "cpm": 0.5},
}
# The raw metric each objective is about, the yardstick the demo's policies are scored by
# beside the composite reward (the learning benchmark's families score by the same: CTR,
# ROAS for sales). Awareness by CTR too: the learner fits clicks out of impressions for it.
OBJECTIVE_METRIC: dict[str, str] = {
    "CONVERSIONS": "roas",
    "TRAFFIC": "ctr",
    "BRAND_AWARENESS": "ctr",
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "ctr": True,
    "conversion_rate": True,
    "roas": True,
    "cpm": False,
}
BRAND_OBJECTIVES: tuple[str, ...] = ("OUTCOME_SALES", "OUTCOME_TRAFFIC", "OUTCOME_AWARENESS")

# Category: base CTR (ratio), conversion rate (ratio), order value, CPM.
CATEGORIES: dict[str, tuple[float, float, float, float]] = {
    "skincare": (0.011, 0.030, 42.0, 11.0),
    "supplements": (0.013, 0.035, 38.0, 10.0),
    "home_fitness": (0.009, 0.024, 85.0, 13.0),
}
BRANDS_PER_CATEGORY = 3
OPTED_OUT_BRAND_INDEX = 2

STRONGEST_DIMENSION = "hook_type"
CONFOUNDED_HOOK = "curiosity_gap"
CONFOUNDED_STAGE = "problem_aware"

# (dim_a, value_a, dim_b, value_b, CTR log-odds, conversion log-odds)
PLANTED_INTERACTIONS: tuple[tuple[str, str, str, str, float, float], ...] = (
    ("hook_type", "testimonial", "template_category", "Testimonial", 0.35, 0.10),
    ("visual_style", "ugc_phone", "template_category", "UGC-Style", 0.30, 0.10),
    ("belief_angle", "scientific_proof", "template_category", "Infographic", 0.25, 0.15),
    ("hook_type", "urgency", "belief_angle", "natural_purity", -0.35, -0.10),
)


@dataclass(frozen=True)
class MarketParams:
    """How ads are bought and how people respond, shared by the truth and the market."""

    run_days: int = 14
    daily_budget: float = 40.0
    # Delivery (sim.market.ad_budget, sim.market.deliver): the log-sd of the ads' daily
    # budgets; how strongly Meta's auction tilts them toward ads that click (budget times
    # (CTR / the brand's base CTR) ** tilt); a market-wide CTR shock each day (log-sd); each
    # ad's CTR scattering day to day (log-sd), so its impressions are not independent.
    budget_sd: float = 0.1
    delivery_tilt: float = 0.0
    day_ctr_sd: float = 0.0
    ad_day_ctr_sd: float = 0.0
    audience_size: int = 30_000
    fatigue_rate: float = 0.3
    cpm_noise_sd: float = 0.15
    spend_low: float = 0.9
    spend_high: float = 1.05
    aov_noise_sd: float = 0.25
    cpm_elasticity: float = 0.3
    add_to_cart_factor: float = 3.0
    # Probability that a purchase arrives 1, 2, ..., 7 days after its click.
    delay_probs: tuple[float, ...] = (0.35, 0.22, 0.14, 0.10, 0.08, 0.06, 0.05)
    # Strength of the planted hook -> awareness_stage confounding.
    confounded_share: float = 0.85
    other_hooks_stage_share: float = 0.05


@dataclass(frozen=True)
class ContextEffects:
    """Audience context: effects on CTR / conversion (log-odds) and CPM, and the mix."""

    stage_ctr: Mapping[str, float] = field(
        default_factory=lambda: {
            "unaware": -0.35,
            "problem_aware": 1.80,
            "solution_aware": 0.10,
            "product_aware": 0.15,
            "most_aware": 0.25,
        }
    )
    stage_cvr: Mapping[str, float] = field(
        default_factory=lambda: {
            "unaware": -0.30,
            "problem_aware": -0.50,
            "solution_aware": 0.10,
            "product_aware": 0.25,
            "most_aware": 0.40,
        }
    )
    audience_ctr: Mapping[str, float] = field(
        default_factory=lambda: {
            "broad": -0.15,
            "interest": 0.0,
            "lookalike": 0.10,
            "retargeting": 0.35,
        }
    )
    audience_cvr: Mapping[str, float] = field(
        default_factory=lambda: {
            "broad": -0.20,
            "interest": 0.0,
            "lookalike": 0.10,
            "retargeting": 0.50,
        }
    )
    audience_cpm: Mapping[str, float] = field(
        default_factory=lambda: {
            "broad": 0.85,
            "interest": 1.0,
            "lookalike": 1.10,
            "retargeting": 1.50,
        }
    )
    stage_mix: Mapping[str, float] = field(
        default_factory=lambda: {
            "unaware": 0.30,
            "problem_aware": 0.15,
            "solution_aware": 0.25,
            "product_aware": 0.15,
            "most_aware": 0.15,
        }
    )
    audience_mix: Mapping[str, float] = field(
        default_factory=lambda: {
            "broad": 0.40,
            "interest": 0.30,
            "lookalike": 0.20,
            "retargeting": 0.10,
        }
    )


@dataclass(frozen=True)
class Interaction:
    dim_a: str
    value_a: str
    dim_b: str
    value_b: str
    ctr: float
    cvr: float


@dataclass(frozen=True)
class Percentiles:
    p25: float
    median: float
    p75: float


@dataclass(frozen=True)
class Rates:
    """Expected rates of one ad in one context: CTR and conversion as ratios."""

    ctr: float
    conversion_rate: float
    aov: float
    cpm: float

    @property
    def roas(self) -> float:
        return 1000.0 * self.ctr * self.conversion_rate * self.aov / self.cpm


@dataclass(frozen=True)
class BrandTruth:
    index: int
    name: str
    slug: str
    category: str
    objective: str
    reward_objective: str
    cross_brand_sharing: bool
    base_ctr: float
    base_cvr: float
    base_aov: float
    base_cpm: float
    ctr_effects: Mapping[str, Mapping[str, float]]
    cvr_effects: Mapping[str, Mapping[str, float]]
    aov_effects: Mapping[str, Mapping[str, float]]
    interactions: tuple[Interaction, ...]
    baselines: Mapping[str, Percentiles]
    lifetime_fatigue: float


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


def fatigue_factor(cum_impressions: np.ndarray | float, audience_size: float, rate: float) -> Any:
    """CTR multiplier after `cum_impressions` shown to an audience of `audience_size`:
    decays with the average frequency (impressions per person reached) above 1."""
    imps = np.asarray(cum_impressions, dtype=float)
    reach = audience_size * (1.0 - np.exp(-imps / audience_size))
    freq = np.where(reach > 0, imps / np.maximum(reach, 1e-9), 1.0)
    return np.exp(-rate * np.maximum(freq - 1.0, 0.0))


def lifetime_fatigue(params: MarketParams, cpm: float) -> float:
    """Impression-weighted mean fatigue over a standard ad life at this CPM."""
    daily = params.daily_budget * (params.spend_low + params.spend_high) / 2 / cpm * 1000
    mids = daily * (np.arange(params.run_days) + 0.5)
    return float(np.mean(fatigue_factor(mids, params.audience_size, params.fatigue_rate)))


def normalize(metric: str, value: np.ndarray | float, pct: Percentiles) -> Any:
    """Creative Genome's normalization: p25 -> 0, p75 -> 1, clipped; CPM reversed."""
    span = max(pct.p75 - pct.p25, 1e-12)
    if HIGHER_IS_BETTER[metric]:
        x = (np.asarray(value) - pct.p25) / span
    else:
        x = (pct.p75 - np.asarray(value)) / span
    return np.clip(x, 0.0, 1.0)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> list[float]:
    order = np.argsort(values, kind="stable")
    v = values[order]
    w = weights[order]
    cum = np.cumsum(w) - 0.5 * w
    cum /= w.sum()
    return [float(np.interp(q, cum, v)) for q in qs]


@dataclass
class Truth:
    """The whole market's truth. Brands are addressed by index (or BrandTruth)."""

    seed: int
    dimensions: dict[str, tuple[str, ...]]
    brands: list[BrandTruth]
    params: MarketParams
    context: ContextEffects
    reward_weights: dict[str, dict[str, float]]
    strongest_dimension: str
    _grids: list[np.ndarray] = field(default_factory=list, repr=False)
    # Per brand, its objective's own metric (OBJECTIVE_METRIC) over the element grid,
    # audience mix averaged: the yardstick the demo's policies are also scored by.
    _metric_grids: list[np.ndarray] = field(default_factory=list, repr=False)

    # ----- addressing -------------------------------------------------------------------

    def brand(self, brand: BrandTruth | int) -> BrandTruth:
        return self.brands[brand] if isinstance(brand, int) else brand

    def element_tags(self, tags: Tags) -> dict[str, str]:
        """Only the element dimensions of `tags` (context and attributes dropped)."""
        return {d: tags[d] for d in self.dimensions if d in tags}

    # ----- confounded audience ----------------------------------------------------------

    def stage_probs(self, hook: str | None) -> np.ndarray:
        """P(awareness_stage | hook) as launched: curiosity_gap mostly problem_aware."""
        mix = np.array([self.context.stage_mix[s] for s in AWARENESS_STAGES], dtype=float)
        k = AWARENESS_STAGES.index(CONFOUNDED_STAGE)
        share = (
            self.params.confounded_share
            if hook == CONFOUNDED_HOOK
            else self.params.other_hooks_stage_share
        )
        rest = mix.copy()
        rest[k] = 0.0
        rest = rest / rest.sum() * (1.0 - share)
        rest[k] = share
        return rest

    def audience_probs(self) -> np.ndarray:
        return np.array([self.context.audience_mix[a] for a in AUDIENCE_TYPES], dtype=float)

    def population_mix(self) -> list[tuple[str, str, float]]:
        """The audience mix the oracle averages over (independent of the creative)."""
        return [
            (s, a, self.context.stage_mix[s] * self.context.audience_mix[a])
            for s in AWARENESS_STAGES
            for a in AUDIENCE_TYPES
        ]

    def draw_audience(self, rng: np.random.Generator, hook: str | None) -> tuple[str, str]:
        stage = AWARENESS_STAGES[int(rng.choice(len(AWARENESS_STAGES), p=self.stage_probs(hook)))]
        aud = AUDIENCE_TYPES[int(rng.choice(len(AUDIENCE_TYPES), p=self.audience_probs()))]
        return stage, aud

    # ----- expected metrics -------------------------------------------------------------

    def _check(self, tags: Tags) -> None:
        for d, v in self.element_tags(tags).items():
            if v not in self.dimensions[d]:
                raise ValueError(f"unknown value {v!r} for dimension {d!r}")

    def _shift(self, b: BrandTruth, tags: Tags) -> tuple[float, float, float]:
        """Sum of element effects (CTR logit, conversion logit, log AOV); a missing
        dimension contributes its mean effect."""
        self._check(tags)
        ctr = cvr = aov = 0.0
        for d, values in self.dimensions.items():
            if d in tags:
                v = tags[d]
                ctr += b.ctr_effects[d][v]
                cvr += b.cvr_effects[d][v]
                aov += b.aov_effects[d][v]
            else:
                ctr += float(np.mean([b.ctr_effects[d][v] for v in values]))
                cvr += float(np.mean([b.cvr_effects[d][v] for v in values]))
                aov += float(np.mean([b.aov_effects[d][v] for v in values]))
        for it in b.interactions:
            if tags.get(it.dim_a) == it.value_a and tags.get(it.dim_b) == it.value_b:
                ctr += it.ctr
                cvr += it.cvr
        return ctr, cvr, aov

    def fresh_rates(self, brand: BrandTruth | int, tags: Tags, stage: str, audience: str) -> Rates:
        """Rates of a fresh ad (no fatigue) with these elements in this audience context."""
        b = self.brand(brand)
        ctr_s, cvr_s, aov_s = self._shift(b, tags)
        cx = self.context
        return Rates(
            ctr=float(
                sigmoid(logit(b.base_ctr) + ctr_s + cx.stage_ctr[stage] + cx.audience_ctr[audience])
            ),
            conversion_rate=float(
                sigmoid(logit(b.base_cvr) + cvr_s + cx.stage_cvr[stage] + cx.audience_cvr[audience])
            ),
            aov=b.base_aov * math.exp(aov_s),
            cpm=b.base_cpm
            * cx.audience_cpm[audience]
            * math.exp(-self.params.cpm_elasticity * ctr_s),
        )

    def lifetime_rates(
        self, brand: BrandTruth | int, tags: Tags, stage: str, audience: str
    ) -> Rates:
        """Expected rates over a standard ad life (CTR with the mean fatigue)."""
        b = self.brand(brand)
        r = self.fresh_rates(b, tags, stage, audience)
        return Rates(r.ctr * b.lifetime_fatigue, r.conversion_rate, r.aov, r.cpm)

    def expected_metrics(self, brand: BrandTruth | int, tags: Tags) -> dict[str, float]:
        """Expected lifetime metrics (ratios) in the ad's context when tags carry
        awareness_stage and audience_type, else averaged over the population mix."""
        b = self.brand(brand)
        contexts = self._contexts(tags)
        out = {"ctr": 0.0, "conversion_rate": 0.0, "aov": 0.0, "cpm": 0.0, "roas": 0.0}
        for stage, aud, w in contexts:
            r = self.lifetime_rates(b, tags, stage, aud)
            out["ctr"] += w * r.ctr
            out["conversion_rate"] += w * r.conversion_rate
            out["aov"] += w * r.aov
            out["cpm"] += w * r.cpm
            out["roas"] += w * r.roas
        return out

    def _contexts(self, tags: Tags) -> list[tuple[str, str, float]]:
        if all(k in tags for k in CONTEXT_KEYS):
            return [(tags["awareness_stage"], tags["audience_type"], 1.0)]
        return self.population_mix()

    # ----- reward -----------------------------------------------------------------------

    def reward_of_rates(self, brand: BrandTruth | int, r: Rates) -> float:
        b = self.brand(brand)
        values = {"ctr": r.ctr, "conversion_rate": r.conversion_rate, "roas": r.roas, "cpm": r.cpm}
        weights = self.reward_weights[b.reward_objective]
        total = sum(weights.values())
        return float(
            sum(w * normalize(m, values[m], b.baselines[m]) for m, w in weights.items()) / total
        )

    def true_reward(self, brand: BrandTruth | int, tags: Tags) -> float:
        """The composite reward with infinite data: in the ad's own context when tags
        carry both context keys, else averaged over the population audience mix."""
        b = self.brand(brand)
        if all(k in tags for k in CONTEXT_KEYS):
            r = self.lifetime_rates(b, tags, tags["awareness_stage"], tags["audience_type"])
            return self.reward_of_rates(b, r)
        self._check(tags)
        grid = self._grids[b.index]
        index = tuple(
            self.dimensions[d].index(tags[d]) if d in tags else slice(None) for d in self.dimensions
        )
        return float(np.mean(grid[index]))

    def oracle_tags(self, brand: BrandTruth | int) -> dict[str, str]:
        """The element combination with the highest true reward (audience mix averaged)."""
        grid = self._grids[self.brand(brand).index]
        flat = int(np.argmax(grid))
        idx = np.unravel_index(flat, grid.shape)
        return {d: self.dimensions[d][int(i)] for d, i in zip(self.dimensions, idx, strict=True)}

    def oracle_reward(self, brand: BrandTruth | int) -> float:
        return float(np.max(self._grids[self.brand(brand).index]))

    # ----- the objective's own metric ---------------------------------------------------

    def objective_metric(self, brand: BrandTruth | int) -> str:
        """The raw metric the brand's objective is about: CTR for traffic and awareness,
        ROAS for sales (what the learning benchmark scores by)."""
        return OBJECTIVE_METRIC[self.brand(brand).reward_objective]

    def true_metric(self, brand: BrandTruth | int, tags: Tags) -> float:
        """The expected objective metric of the elements in `tags` (audience mix averaged;
        context keys are dropped, as for the policies' rewards)."""
        b = self.brand(brand)
        return self.expected_metrics(b, self.element_tags(tags))[self.objective_metric(b)]

    def oracle_metric(self, brand: BrandTruth | int) -> float:
        """The best expected objective metric over all element combinations."""
        return float(np.max(self._metric_grids[self.brand(brand).index]))

    def random_metric(self, brand: BrandTruth | int) -> float:
        """The expected objective metric of uniformly random elements."""
        return float(np.mean(self._metric_grids[self.brand(brand).index]))

    def random_tags(self, rng: np.random.Generator) -> dict[str, str]:
        """Uniformly random elements (what the existing app effectively does)."""
        return {d: vals[int(rng.integers(len(vals)))] for d, vals in self.dimensions.items()}

    def value_rewards(self, brand: BrandTruth | int, dimension: str) -> dict[str, float]:
        """True mean reward of each value of `dimension`, the other dimensions uniform."""
        grid = self._grids[self.brand(brand).index]
        axis = list(self.dimensions).index(dimension)
        others = tuple(i for i in range(grid.ndim) if i != axis)
        means = grid.mean(axis=others)
        return {v: float(m) for v, m in zip(self.dimensions[dimension], means, strict=True)}

    def best_values(self, brand: BrandTruth | int) -> dict[str, str]:
        """Per dimension, the value with the highest true marginal reward."""
        out = {}
        for d in self.dimensions:
            vr = self.value_rewards(brand, d)
            out[d] = max(vr, key=lambda v, vr=vr: vr[v])
        return out

    def to_json(self) -> dict[str, Any]:
        """Everything true about the market, for the demo to save beside its report."""
        return {
            "seed": self.seed,
            "strongest_dimension": self.strongest_dimension,
            "confounding": {
                "hook": CONFOUNDED_HOOK,
                "stage": CONFOUNDED_STAGE,
                "share": self.params.confounded_share,
                "other_hooks_share": self.params.other_hooks_stage_share,
            },
            "params": self.params.__dict__ | {"delay_probs": list(self.params.delay_probs)},
            "context": {k: dict(v) for k, v in self.context.__dict__.items()},
            "reward_weights": self.reward_weights,
            "dimensions": {d: list(v) for d, v in self.dimensions.items()},
            "brands": [
                {
                    "index": b.index,
                    "name": b.name,
                    "slug": b.slug,
                    "category": b.category,
                    "objective": b.objective,
                    "reward_objective": b.reward_objective,
                    "cross_brand_sharing": b.cross_brand_sharing,
                    "base_ctr": b.base_ctr,
                    "base_cvr": b.base_cvr,
                    "base_aov": b.base_aov,
                    "base_cpm": b.base_cpm,
                    "lifetime_fatigue": b.lifetime_fatigue,
                    "ctr_effects": {d: dict(v) for d, v in b.ctr_effects.items()},
                    "cvr_effects": {d: dict(v) for d, v in b.cvr_effects.items()},
                    "aov_effects": {d: dict(v) for d, v in b.aov_effects.items()},
                    "interactions": [it.__dict__ for it in b.interactions],
                    "baselines": {m: p.__dict__ for m, p in b.baselines.items()},
                    "oracle_tags": self.oracle_tags(b),
                    "oracle_reward": self.oracle_reward(b),
                    "best_values": self.best_values(b),
                    "value_rewards": {d: self.value_rewards(b, d) for d in self.dimensions},
                }
                for b in self.brands
            ],
        }


# ----- building -------------------------------------------------------------------------

# CTR log-odds spread of each dimension's values; conversion effects follow partly.
DIMENSION_SCALE: dict[str, float] = {
    "hook_type": 0.25,
    "belief_angle": 0.20,
    "template_category": 0.15,
    "visual_style": 0.10,
    "color_mode": 0.06,
}
AOV_SCALE: dict[str, float] = {"belief_angle": 0.06, "template_category": 0.04}
BEST_VALUE_CTR = 0.75
BEST_VALUE_CVR = 0.35
OTHER_VALUES_CAP = 0.30
CONFOUNDED_HOOK_PENALTY = 0.30
BRAND_DEVIATION = 0.35


def _category_effects(
    rng: np.random.Generator, dimensions: dict[str, tuple[str, ...]], strongest: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], int]:
    ctr: dict[str, np.ndarray] = {}
    cvr: dict[str, np.ndarray] = {}
    aov: dict[str, np.ndarray] = {}
    for d, values in dimensions.items():
        sd = DIMENSION_SCALE.get(d, 0.1)
        e = rng.normal(0.0, sd, len(values))
        e -= e.mean()
        ctr[d] = e
        cvr[d] = 0.4 * e + rng.normal(0.0, 0.5 * sd, len(values))
        aov[d] = rng.normal(0.0, AOV_SCALE.get(d, 0.02), len(values))
    values = dimensions[strongest]
    candidates = [i for i, v in enumerate(values) if v != CONFOUNDED_HOOK]
    best = int(candidates[int(rng.integers(len(candidates)))])
    return ctr, cvr, aov, best


def _brand_effects(
    rng: np.random.Generator,
    dimensions: dict[str, tuple[str, ...]],
    strongest: str,
    cat: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], int],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    cat_ctr, cat_cvr, cat_aov, best = cat
    ctr_out: dict[str, dict[str, float]] = {}
    cvr_out: dict[str, dict[str, float]] = {}
    aov_out: dict[str, dict[str, float]] = {}
    for d, values in dimensions.items():
        sd = DIMENSION_SCALE.get(d, 0.1)
        c = cat_ctr[d] + rng.normal(0.0, BRAND_DEVIATION * sd, len(values))
        v = cat_cvr[d] + rng.normal(0.0, BRAND_DEVIATION * 0.5 * sd, len(values))
        a = cat_aov[d] + rng.normal(0.0, BRAND_DEVIATION * AOV_SCALE.get(d, 0.02), len(values))
        if d == strongest:
            # A clear best value; every other value well below it.
            c = np.clip(c, -0.6, OTHER_VALUES_CAP)
            v = np.clip(v, -0.3, BEST_VALUE_CVR / 2)
            c[best] = BEST_VALUE_CTR
            v[best] = BEST_VALUE_CVR
            a[best] = max(float(a.max()), 0.0)
            if CONFOUNDED_HOOK in values:
                k = values.index(CONFOUNDED_HOOK)
                others = [i for i in range(len(values)) if i not in (k, best)]
                c[k] = float(np.mean(c[others])) - CONFOUNDED_HOOK_PENALTY
                v[k] = float(np.mean(v[others])) - CONFOUNDED_HOOK_PENALTY / 3
        ctr_out[d] = {val: float(x) for val, x in zip(values, c, strict=True)}
        cvr_out[d] = {val: float(x) for val, x in zip(values, v, strict=True)}
        aov_out[d] = {val: float(x) for val, x in zip(values, a, strict=True)}
    return ctr_out, cvr_out, aov_out


def _interactions(dimensions: dict[str, tuple[str, ...]]) -> tuple[Interaction, ...]:
    return tuple(
        Interaction(da, va, db, vb, c, v)
        for da, va, db, vb, c, v in PLANTED_INTERACTIONS
        if va in dimensions.get(da, ()) and vb in dimensions.get(db, ())
    )


def _axis(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = len(values)
    return values.reshape(shape)


def _shift_grids(
    b: BrandTruth, dimensions: dict[str, tuple[str, ...]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CTR logit, conversion logit and log-AOV shifts on the full element grid."""
    dims = list(dimensions)
    shape = tuple(len(dimensions[d]) for d in dims)
    ctr = np.zeros(shape)
    cvr = np.zeros(shape)
    aov = np.zeros(shape)
    for i, d in enumerate(dims):
        vals = dimensions[d]
        ctr = ctr + _axis(np.array([b.ctr_effects[d][v] for v in vals]), i, len(dims))
        cvr = cvr + _axis(np.array([b.cvr_effects[d][v] for v in vals]), i, len(dims))
        aov = aov + _axis(np.array([b.aov_effects[d][v] for v in vals]), i, len(dims))
    for it in b.interactions:
        ia, ib = dims.index(it.dim_a), dims.index(it.dim_b)
        ka, kb = dimensions[it.dim_a].index(it.value_a), dimensions[it.dim_b].index(it.value_b)
        sel: list[Any] = [slice(None)] * len(dims)
        sel[ia], sel[ib] = ka, kb
        ctr[tuple(sel)] += it.ctr
        cvr[tuple(sel)] += it.cvr
    return ctr, cvr, aov


def _finish_brand(
    b: BrandTruth,
    dimensions: dict[str, tuple[str, ...]],
    params: MarketParams,
    cx: ContextEffects,
    weights: dict[str, dict[str, float]],
    strongest: str,
) -> tuple[BrandTruth, np.ndarray, np.ndarray]:
    """Baselines (percentiles of random ads as launched), the reward grid and the
    objective metric's grid."""
    ctr_s, cvr_s, aov_s = _shift_grids(b, dimensions)
    dims = list(dimensions)
    n_cells = ctr_s.size
    contexts = [(s, a) for s in AWARENESS_STAGES for a in AUDIENCE_TYPES]
    # Launch weights of each context given the hook (the confounded assignment).
    hook_axis = dims.index(strongest) if strongest in dims else None
    stage_mix = np.array([cx.stage_mix[s] for s in AWARENESS_STAGES])
    aud_mix = np.array([cx.audience_mix[a] for a in AUDIENCE_TYPES])
    metrics: dict[str, list[np.ndarray]] = {m: [] for m in HIGHER_IS_BETTER}
    launch_w: list[np.ndarray] = []
    k = AWARENESS_STAGES.index(CONFOUNDED_STAGE)
    for s, a in contexts:
        ctr = sigmoid(logit(b.base_ctr) + ctr_s + cx.stage_ctr[s] + cx.audience_ctr[a])
        ctr = ctr * b.lifetime_fatigue
        cvr = sigmoid(logit(b.base_cvr) + cvr_s + cx.stage_cvr[s] + cx.audience_cvr[a])
        aov = b.base_aov * np.exp(aov_s)
        cpm = b.base_cpm * cx.audience_cpm[a] * np.exp(-params.cpm_elasticity * ctr_s)
        metrics["ctr"].append(ctr)
        metrics["conversion_rate"].append(cvr)
        metrics["cpm"].append(cpm)
        metrics["roas"].append(1000.0 * ctr * cvr * aov / cpm)
        si = AWARENESS_STAGES.index(s)
        w = np.full(ctr_s.shape, aud_mix[AUDIENCE_TYPES.index(a)] / n_cells)
        if hook_axis is not None and CONFOUNDED_HOOK in dimensions[strongest]:
            probs = []
            for hook in dimensions[strongest]:
                share = (
                    params.confounded_share
                    if hook == CONFOUNDED_HOOK
                    else params.other_hooks_stage_share
                )
                rest = stage_mix.copy()
                rest[k] = 0.0
                rest = rest / rest.sum() * (1.0 - share)
                rest[k] = share
                probs.append(rest[si])
            w = w * _axis(np.array(probs), hook_axis, len(dims))
        else:
            w = w * stage_mix[si]
        launch_w.append(w)
    weights_all = np.concatenate([w.ravel() for w in launch_w])
    baselines = {}
    for m, grids in metrics.items():
        vals = np.concatenate([g.ravel() for g in grids])
        p25, med, p75 = _weighted_quantiles(vals, weights_all, [0.25, 0.5, 0.75])
        baselines[m] = Percentiles(p25, med, p75)
    cpc = np.concatenate(
        [(c / (1000.0 * t)).ravel() for c, t in zip(metrics["cpm"], metrics["ctr"], strict=True)]
    )
    baselines["cpc"] = Percentiles(*_weighted_quantiles(cpc, weights_all, [0.25, 0.5, 0.75]))
    b = BrandTruth(**{**b.__dict__, "baselines": baselines})
    wts = weights[b.reward_objective]
    total = sum(wts.values())
    grid = np.zeros(ctr_s.shape)
    metric_grid = np.zeros(ctr_s.shape)
    objective_metric = metrics[OBJECTIVE_METRIC[b.reward_objective]]
    for ci, (s, a) in enumerate(contexts):
        r = sum(w * normalize(m, metrics[m][ci], baselines[m]) for m, w in wts.items()) / total
        grid += cx.stage_mix[s] * cx.audience_mix[a] * r
        metric_grid += cx.stage_mix[s] * cx.audience_mix[a] * objective_metric[ci]
    return b, grid, metric_grid


def build_truth(
    seed: int,
    n_brands: int = 3,
    dimensions: Mapping[str, tuple[str, ...] | list[str]] | None = None,
    reward_weights: Mapping[str, Mapping[str, float]] | None = None,
    params: MarketParams | None = None,
    context: ContextEffects | None = None,
) -> Truth:
    """A seeded market truth for `n_brands` brands (same seed -> same truth)."""
    if n_brands < 1:
        raise ValueError("n_brands must be >= 1")
    dims = {d: tuple(v) for d, v in (dimensions or ELEMENT_DIMENSIONS).items()}
    strongest = STRONGEST_DIMENSION if STRONGEST_DIMENSION in dims else next(iter(dims))
    params = params or MarketParams()
    cx = context or ContextEffects()
    weights = {o: dict(w) for o, w in (reward_weights or REWARD_WEIGHTS).items()}
    cat_names = list(CATEGORIES)
    cat_effects = {
        name: _category_effects(np.random.default_rng([seed, 1, i]), dims, strongest)
        for i, name in enumerate(cat_names)
    }
    truth = Truth(seed, dims, [], params, cx, weights, strongest)
    for i in range(n_brands):
        rng = np.random.default_rng([seed, 2, i])
        category = cat_names[(i // BRANDS_PER_CATEGORY) % len(cat_names)]
        base_ctr, base_cvr, base_aov, base_cpm = CATEGORIES[category]
        objective = BRAND_OBJECTIVES[i % len(BRAND_OBJECTIVES)]
        ctr_e, cvr_e, aov_e = _brand_effects(rng, dims, strongest, cat_effects[category])
        cpm = base_cpm * float(np.exp(rng.normal(0, 0.1)))
        b = BrandTruth(
            index=i,
            name=f"Sim Brand {i + 1} ({category})",
            slug=f"sim-{seed}-brand-{i + 1}",
            category=category,
            objective=objective,
            reward_objective=OBJECTIVE_MAP[objective],
            cross_brand_sharing=(i != OPTED_OUT_BRAND_INDEX),
            base_ctr=base_ctr * float(np.exp(rng.normal(0, 0.1))),
            base_cvr=base_cvr * float(np.exp(rng.normal(0, 0.1))),
            base_aov=base_aov * float(np.exp(rng.normal(0, 0.1))),
            base_cpm=cpm,
            ctr_effects=ctr_e,
            cvr_effects=cvr_e,
            aov_effects=aov_e,
            interactions=_interactions(dims),
            baselines={},
            lifetime_fatigue=lifetime_fatigue(params, cpm),
        )
        b, grid, metric_grid = _finish_brand(b, dims, params, cx, weights, strongest)
        truth.brands.append(b)
        truth._grids.append(grid)
        truth._metric_grids.append(metric_grid)
    return truth


# ----- reading the registry and the reward configuration from the database -------------


def load_dimensions(conn: psycopg.Connection) -> dict[str, tuple[str, ...]]:
    """The element dimensions (kind 'element') and their values from genome's registry."""
    rows = conn.execute(
        """
        SELECT d.dimension, array_agg(v.value ORDER BY v.value)
        FROM genome.element_dimensions AS d
        JOIN genome.element_values AS v USING (dimension)
        WHERE d.kind = 'element'
        GROUP BY d.dimension, d.strategic_weight
        ORDER BY d.strategic_weight DESC, d.dimension
        """
    ).fetchall()
    out: dict[str, tuple[str, ...]] = {}
    for dim, values in rows:
        # Keep ELEMENT_DIMENSIONS' order where known, so a random seed gives the same effects.
        known = ELEMENT_DIMENSIONS.get(dim, ())
        ordered = [v for v in known if v in values] + [v for v in values if v not in known]
        out[dim] = tuple(ordered)
    order = [d for d in ELEMENT_DIMENSIONS if d in out] + [
        d for d in out if d not in ELEMENT_DIMENSIONS
    ]
    return {d: out[d] for d in order}


def load_reward_weights(conn: psycopg.Connection) -> dict[str, dict[str, float]]:
    """genome.reward_weights as {objective: {metric: weight}}."""
    out: dict[str, dict[str, float]] = {}
    for obj, metric, weight in conn.execute(
        "SELECT reward_objective, metric, weight::float8 FROM genome.reward_weights"
    ):
        out.setdefault(obj, {})[metric] = float(weight)
    return out
