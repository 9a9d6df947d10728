"""The learning benchmark (bench/learning.py) and its market families (sim/markets.py): the
families' truths and oracles, and a small run of the benchmark in which the project's
learner must beat random elements and not lose to MABWiser beyond the seeds' noise."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import numpy as np
import psycopg
import pytest
from scipy import stats

from bench import learning
from bench.harness import Server
from sim.markets import AUDIENCE_MIX, FAMILIES, WARM_AUDIENCE, LocalMarket, build_family

DAYS = 30


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_oracle_is_the_argmax_of_the_truth(family: str) -> None:
    truth = build_family(family, 3, DAYS)
    rng = np.random.default_rng(0)
    for brand, day in itertools.product(range(len(truth.brands)), (0, DAYS // 2, DAYS - 1)):
        best_tags, best = truth.oracle(brand, day)
        assert best == pytest.approx(truth.expected_reward(brand, best_tags, day))
        # Expected rewards recomputed from the ad-level rates (the path the market uses).
        b = truth.brands[brand]

        def from_rates(tags: dict[str, str], b=b, brand=brand, day=day) -> float:
            r = truth.fresh_rates(brand, tags, day)
            ctr = r.ctr * b.lifetime_fatigue
            if truth.spec.reward == "roas":
                return 1000.0 * ctr * r.conversion_rate * r.aov / r.cpm
            return ctr

        assert from_rates(best_tags) == pytest.approx(best)
        others = [
            {d: v[int(rng.integers(len(v)))] for d, v in truth.dimensions.items()}
            for _ in range(300)
        ]
        assert max(from_rates(t) for t in others) <= best + 1e-12
        # No single-value change of the oracle's combination is better; on a strong
        # dimension every change is worse (the best value is unique).
        for d, values in truth.dimensions.items():
            for v in values:
                if v != best_tags[d]:
                    changed = truth.expected_reward(brand, {**best_tags, d: v}, day)
                    assert changed < best if d in truth.spec.strong else changed <= best


def test_random_elements_are_far_below_the_oracle_in_every_family() -> None:
    for family in FAMILIES:
        truth = build_family(family, 1, DAYS)
        for b in range(len(truth.brands)):
            share = truth.random_reward(b, 0) / truth.oracle(b, 0)[1]
            assert share < 0.6, (family, b, share)


@pytest.mark.parametrize("family", ["drift", "drift_spread"])
def test_the_swap_families_swap_the_best_hook_mid_run(family: str) -> None:
    truth = build_family(family, 5, DAYS)
    swap = truth.swap_day
    assert swap == DAYS // 2
    for b, effects in enumerate(truth.effects):
        assert effects.swap is not None
        dim, was_best, other = effects.swap
        unswapped = effects.ctr[dim] + effects.walk[dim][swap]
        after = truth.ctr_effects(b, swap)[dim]
        assert after[other] == pytest.approx(unswapped[was_best])
        assert after[was_best] == pytest.approx(unswapped[other])
        assert after[other] - after[was_best] > 0.3  # a swap, not a wobble
        assert truth.oracle(b, swap - 1)[0][dim] == truth.dimensions[dim][was_best]
        assert truth.oracle(b, swap)[0][dim] != truth.dimensions[dim][was_best]
        # The effects drift between days too.
        assert not np.allclose(truth.ctr_effects(b, 0)[dim], truth.ctr_effects(b, swap - 1)[dim])


@pytest.mark.parametrize(
    ("family", "sd"), [("spread_0.3", 0.3), ("spread_0.5", 0.5), ("drift_spread", 0.3)]
)
def test_ad_level_spread_has_the_requested_sd_and_keeps_the_mean(family: str, sd: float) -> None:
    truth = build_family(family, 2, DAYS)
    tags = truth.oracle(0, 0)[0]
    fresh = truth.fresh_rates(0, tags, 0).ctr
    ratios = np.array([truth.launch_rates(0, tags, 0, n).ctr / fresh for n in range(4000)])
    assert np.log(ratios).std() == pytest.approx(sd, abs=0.02)
    assert ratios.mean() == pytest.approx(1.0, abs=0.03)
    # Without spread every ad of a combination has its combination's rates.
    plain = build_family("additive", 2, DAYS)
    assert plain.launch_rates(0, tags, 0, 7) == plain.fresh_rates(0, tags, 0)


def test_breakout_creatives_are_the_share_asked_and_keep_the_mean() -> None:
    """`breakout`: 5% of the ads click 4 times as much as the rest of their spread (sd 0.3)
    says, the whole spread rescaled to mean one."""
    truth = build_family("breakout", 2, DAYS)
    tags = truth.oracle(0, 0)[0]
    fresh = truth.fresh_rates(0, tags, 0).ctr
    ratios = np.array([truth.launch_rates(0, tags, 0, n).ctr / fresh for n in range(20000)])
    assert ratios.mean() == pytest.approx(1.0, abs=0.02)
    # The mixture's log: the ordinary ads' normal at mu, the breakouts' at mu + log 4.
    share, jump, sd = 0.05, np.log(4.0), 0.3
    mu = -(sd**2) / 2 - np.log(1 - share + share * 4.0)
    log_ratio = np.log(ratios)
    assert log_ratio.mean() == pytest.approx(mu + share * jump, abs=0.01)
    assert log_ratio.var() == pytest.approx(sd**2 + share * (1 - share) * jump**2, rel=0.05)
    # Above the midpoint of the two: most breakouts and a normal tail of the rest.
    z = jump / 2 / sd
    above = (log_ratio > mu + jump / 2).mean()
    assert above == pytest.approx(
        (1 - share) * stats.norm.sf(z) + share * stats.norm.sf(-z), abs=0.004
    )


def test_only_the_hook_matters_in_the_sparse_family() -> None:
    truth = build_family("sparse", 4, DAYS)
    grid = truth.reward_grid(0, 0)
    hook_axis = list(truth.dimensions).index("hook_type")
    spread = grid.max(axis=tuple(i for i in range(grid.ndim) if i != hook_axis)) - grid.min(
        axis=tuple(i for i in range(grid.ndim) if i != hook_axis)
    )
    assert np.allclose(spread, 0.0)
    assert grid.max() > 1.5 * grid.min()


def test_the_sharing_family_has_a_late_brand_among_opted_in_peers() -> None:
    truth = build_family("sharing", 1, DAYS)
    assert len({b.category for b in truth.brands}) == 1
    assert all(b.cross_brand_sharing for b in truth.brands)
    assert truth.focus == [2] and truth.start_days[2] > 0 == truth.start_days[0]
    # Peers' effects are correlated: the category's effects dominate the brand deviation.
    a, b = truth.effects[0].ctr["hook_type"], truth.effects[2].ctr["hook_type"]
    assert np.corrcoef(a, b)[0, 1] > 0.5


def test_the_confounded_family_shows_an_ordinary_hook_to_the_warm_audience() -> None:
    truth = build_family("confounded", 2, DAYS)
    hook = truth.targeted_hook
    hooks = truth.dimensions["hook_type"]
    assert hook is not None
    # An ordinary hook: no brand's best, and on the elements alone worth less than the best.
    for b in range(len(truth.brands)):
        best = truth.oracle(b, 0)[0]
        assert best["hook_type"] != hook
        assert truth.expected_reward(b, {**best, "hook_type": hook}, 0) < truth.oracle(b, 0)[1]
    # Its ads go mostly to the warm audience, the others' by the untargeted mix.
    rng = np.random.default_rng(0)
    warm = [truth.draw_audience(rng, hook)[0] == WARM_AUDIENCE for _ in range(4000)]
    other = next(h for h in hooks if h != hook)
    cold = [truth.draw_audience(rng, other)[0] == WARM_AUDIENCE for _ in range(4000)]
    share = truth.spec.targeted_share
    assert np.mean(warm) == pytest.approx(share + (1 - share) * 0.15, abs=0.02)
    assert np.mean(cold) == pytest.approx(0.15, abs=0.02)
    # The trap: delivered, the targeted hook out-clicks the brand's best hook (the audience's
    # doing); scored, each is worth its elements under the untargeted mix.
    market = LocalMarket(truth)
    best = truth.oracle(0, 0)[0]
    ads = {
        h: [market.launch(0, {**best, "hook_type": h}, 0) for _ in range(300)]
        for h in (hook, best["hook_type"])
    }
    ctr = {h: np.mean([a.rates.ctr for a in ads[h]]) for h in ads}
    assert ctr[hook] > ctr[best["hook_type"]]
    fresh = truth.fresh_rates(0, {**best, "hook_type": hook}, 0).ctr
    mixed = sum(
        m * truth.fresh_rates(0, {**best, "hook_type": hook}, 0, stage).ctr
        for stage, (m, _) in AUDIENCE_MIX.items()
    )
    assert fresh == pytest.approx(mixed)
    # The other families' audience is constant and moves nothing.
    plain = build_family("additive", 2, DAYS)
    assert plain.targeted_hook is None
    assert plain.fresh_rates(0, best, 0, WARM_AUDIENCE) == plain.fresh_rates(0, best, 0)


def test_the_local_market_delivers_delayed_purchases_and_fatigue() -> None:
    truth = build_family("conversion", 1, DAYS)
    market = LocalMarket(truth)
    ad = market.launch(0, truth.oracle(0, 0)[0], 0)
    for day in range(14):
        market.simulate_day(day)
    imps, clicks, purchases, value, spend = market.observed(ad, 13)
    later = market.observed(ad, 20)
    assert imps == later[0] and clicks == later[1] and spend == later[4]
    assert later[2] >= purchases and later[3] >= value  # purchases still arriving
    assert len(ad.impressions) == truth.params.run_days
    assert clicks / imps == pytest.approx(ad.rates.ctr * truth.brands[0].lifetime_fatigue, rel=0.15)


def test_the_jobs_run_on_the_projects_schedule(db: psycopg.Connection) -> None:
    jobs, left_out = learning.job_calendar(db)
    names = {r[0] for r in db.execute("SELECT job_name FROM genome.job_schedules")}
    by_name = {j.name: j for j in jobs}
    assert set(by_name) | {n.split()[0] for n in left_out} == names
    assert by_name["genome_collect"].weekdays is None
    assert by_name["genome_validation"].weekdays == frozenset({1})
    # In time order, and within one virtual day every daily job runs exactly once.
    start = learning._at(learning.START_DAY, learning.PLAN_HOUR)
    runs = learning._jobs_between(jobs, start, start + learning.dt.timedelta(days=7))
    assert runs == sorted(runs)
    assert sum(1 for _, n in runs if n == "genome_collect") == 7
    assert sum(1 for _, n in runs if n == "genome_validation") == 1
    # The learner's update is as daily as the table says (docs/operations.md#scheduled-jobs).
    daily = db.execute(
        "SELECT schedule LIKE '% * * *' FROM genome.job_schedules"
        " WHERE job_name = 'creative_genome_update'"
    ).fetchone()[0]
    assert sum(1 for _, n in runs if n == "creative_genome_update") == (7 if daily else 1)


@pytest.mark.parametrize("family", ["sparse", "sharing"])
def test_the_blind_days_are_those_before_any_click_matures(family: str) -> None:
    """blind_regret counts, per measured brand, the days whose plans no matured click can
    inform (the local policies' rule: a click matures `clicks` days after the ad's first
    delivery), at the expected regret of uniform elements; a brand that starts among
    earlier peers counts none."""
    truth = build_family(family, 2, DAYS)
    maturation = learning.Maturation()
    market = LocalMarket(truth)
    policy = learning.RandomPolicy(truth, 2, maturation)
    first_informed = {}
    for day in range(DAYS):
        for b in truth.focus:
            if day >= truth.start_days[b] and b not in first_informed:
                if day > 0 and policy.matured_counts(market, b, day - 1):
                    first_informed[b] = day
                for t in policy.choose(b, day, 3):
                    market.launch(b, t, day)
        market.simulate_day(day)
    expected = 0.0
    for b in truth.focus:
        start = truth.start_days[b]
        assert first_informed[b] == start + maturation.clicks
        if start == 0:
            for day in range(start, first_informed[b]):
                expected += 6 * (truth.oracle(b, day)[1] - truth.random_reward(b, day))
    assert learning.blind_regret(truth, 6, maturation) == pytest.approx(expected, rel=1e-12)
    assert (expected > 0) == (family == "sparse")


@pytest.mark.slow
def test_small_benchmark_project_beats_random_and_is_not_worse_than_mabwiser(
    tmp_path: Path,
) -> None:
    """One family, three seeds, three weeks. The project must beat random in every seed,
    and the paired per-seed difference project - MABWiser must not be significantly
    negative (one-sided t at 5%: its upper 95% confidence bound is >= 0)."""
    sizes = learning.LearnSizes(
        seeds=3, days=21, ads_per_day=6, families=("additive",),
        policies=("project", "mabwiser", "random"),
    )  # fmt: skip
    server = Server.local(tmp_path, "learntest")
    try:
        with psycopg.connect(server.url(server.template())) as conn:
            maturation = learning.Maturation.read(conn)
        result, _ = learning.run_family(server, "additive", sizes, maturation)
    finally:
        server.close()
    project, mab, rnd = result.pct("project"), result.pct("mabwiser"), result.pct("random")
    assert all(p > r for p, r in zip(project, rnd, strict=True)), (project, rnd)
    # The blind days' regret is a floor every policy's regret stays above, seed by seed.
    assert len(result.blind) == sizes.seeds and all(b > 0 for b in result.blind)
    for policy in sizes.policies:
        assert all(b < r for b, r in zip(result.blind, result.regret(policy), strict=True)), policy
    diffs = [p - m for p, m in zip(project, mab, strict=True)]
    se = statistics.stdev(diffs) / len(diffs) ** 0.5
    upper = statistics.fmean(diffs) + stats.t.ppf(0.95, len(diffs) - 1) * se
    assert upper >= 0, f"project {project} vs MABWiser {mab}: upper bound {upper:.1f}"


def test_the_reference_models_laplace_fit_matches_a_statsmodels_glm() -> None:
    """joint_ts's fit: with a vague prior its MAP is the binomial GLM's estimate, its
    covariance the GLM's times the Pearson dispersion (statsmodels' scale='X2')."""
    import statsmodels.api as sm

    rng = np.random.default_rng(1)
    n_ads = 200
    x = np.column_stack([np.ones(n_ads), rng.integers(0, 2, (n_ads, 3))]).astype(float)
    beta = np.array([-4.0, 0.5, -0.3, 0.2])
    trials = rng.integers(2000, 8000, n_ads).astype(float)
    # Overdispersed: each ad's rate gets its own lognormal factor.
    rate = 1 / (1 + np.exp(-(x @ beta))) * rng.lognormal(-0.045, 0.3, n_ads)
    y = rng.binomial(trials.astype(int), rate).astype(float)
    theta, cov = learning.laplace_logistic(x, y, trials, prior_sd=1e4)
    glm = sm.GLM(y / trials, x, family=sm.families.Binomial(), var_weights=trials)
    fit = glm.fit(scale="X2")
    assert theta == pytest.approx(fit.params, abs=1e-6)
    assert fit.scale > 2  # the data are overdispersed, and the covariance says so
    assert np.sqrt(np.diag(cov)) == pytest.approx(fit.bse, rel=1e-3)


def test_the_yardsticks_posterior_is_weighted_least_squares_with_the_prior_as_rows() -> None:
    """bench.yardstick's closed form: the posterior mean is statsmodels' WLS of the ads'
    empirical logits (weights 1 / (binomial variance + spread²)) with one pseudo-row per
    parameter for its N(0, 1 / precision) prior; the covariance is that fit's unscaled one."""
    import statsmodels.api as sm

    from bench import yardstick

    rng = np.random.default_rng(2)
    n_ads = 150
    x = np.column_stack([np.ones(n_ads), rng.integers(0, 2, (n_ads, 4))]).astype(float)
    trials = rng.integers(1000, 9000, n_ads).astype(float)
    rate = 1 / (1 + np.exp(-(x @ np.array([-4.0, 0.4, -0.2, 0.1, 0.0]))))
    clicks = rng.binomial(trials.astype(int), rate * rng.lognormal(-0.125, 0.5, n_ads))
    precision = np.array([1e-4, 4.0, 4.0, 25.0, 100.0])
    mean, cov = yardstick.posterior(x, clicks.astype(float), trials, precision, 0.25)
    y = np.log((clicks + 0.5) / (trials - clicks + 0.5))
    w = 1 / (1 / (clicks + 0.5) + 1 / (trials - clicks + 0.5) + 0.25)
    fit = sm.WLS(
        np.r_[y, np.zeros(len(precision))],
        np.r_[x, np.diag(np.sqrt(precision))],
        weights=np.r_[w, np.ones(len(precision))],
    ).fit()
    np.testing.assert_allclose(mean, fit.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov, fit.normalized_cov_params, rtol=1e-8, atol=1e-12)


def test_the_yardstick_learns_and_refuses_a_truth_it_cannot_be_told() -> None:
    from bench import yardstick

    sizes = learning.LearnSizes(seeds=2, days=DAYS)
    informed = yardstick.run(["additive"], sizes, 0.7)["additive"]
    for seed, s in enumerate(informed, start=1):
        truth = build_family("additive", seed, DAYS)
        random = learning.score(
            truth, learning.run_local(truth, "random", seed, 6, learning.Maturation())
        )
        assert s.pct_oracle_last_third > random.pct_oracle_last_third + 40
    with pytest.raises(ValueError, match="drift"):
        yardstick.InformedTS(build_family("drift", 1, DAYS), 1, learning.Maturation(), 0.7)


def test_the_delivery_familys_budgets_spread_and_follow_the_ads_clicks() -> None:
    """Meta-like delivery (sim/markets.py, `delivery`): log budget = log CTR x
    delivery_tilt + a spread of sd budget_sd; the other families' budgets are the demo's."""
    rng = np.random.default_rng(0)
    for family, tilt, spread in (("delivery", 1.0, 0.8), ("additive", 0.0, 0.1)):
        truth = build_family(family, 1, DAYS)
        market = LocalMarket(truth)
        ads = [
            market.launch(
                0, {d: v[int(rng.integers(len(v)))] for d, v in truth.dimensions.items()}, 0
            )
            for _ in range(3000)
        ]
        log_budget = np.log([a.budget for a in ads])
        log_ctr = np.log([a.rates.ctr for a in ads])
        slope, intercept = np.polyfit(log_ctr, log_budget, 1)
        assert slope == pytest.approx(tilt, abs=0.08)
        resid = log_budget - (slope * log_ctr + intercept)
        assert np.std(resid) == pytest.approx(spread, rel=0.08)


def test_the_swap_verdict_says_when_the_median_seed_never_came_back() -> None:
    """The swap goal's verdict: the median over seeds of the days back at 80% of the new
    oracle, and for a family whose median seed never got back within the run, that it did
    not (not 'inf days')."""

    def result(days: list[float]) -> learning.FamilyResult:
        scores = [learning.Scores(95.0, 1.0, [True], d, []) for d in days]
        return learning.FamilyResult("drift", {"project": scores})

    back = learning.verdicts(result([9.0, 10.0, 30.0]))
    assert (
        "drift: ok: back at 80% of the new oracle in 10 days (median seed; goal <= 14 days)" in back
    )
    never = learning.verdicts(result([9.0, float("inf"), float("inf")]))
    assert (
        "drift: PROJECT LOSES: not back at 80% of the new oracle within the run "
        "(median seed; goal <= 14 days)"
    ) in never
    assert not any("inf" in v for v in never)
