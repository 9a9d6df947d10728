"""The joint learner's frequency adjustment (docs/learning.md#frequency): the within-ad slope
of log CTR on the audience's excess frequency against statsmodels, the fit's per-ad offsets
against a GLM with the same offsets, and a brand whose better hook Meta served so heavily
that its ads fatigued below the plain hook's."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import psycopg
import pytest
import statsmodels.api as sm
from scipy.special import expit
from statsmodels.stats.contingency_tables import StratifiedTable

from sim import factories as f
from tests.test_learner import T0, _brand_ads, _dimensions, _fit, _one_hot, _posterior_means, _use


def _offsets(db, ads, days, impressions, clicks, audiences, prior_sd=1e6):
    return db.execute(
        "SELECT slope, slope_sd, log_factors "
        "FROM genome._frequency_offsets(%s, %s, %s, %s, %s, %s)",
        (
            [int(a) for a in ads],
            [int(d) for d in days],
            [float(x) for x in impressions],
            [float(x) for x in clicks],
            [float(x) for x in audiences],
            prior_sd,
        ),
    ).fetchone()


def _excess(ad, imps, audience):
    """Each row's audience frequency above 1 at the middle of its day (rows in day order
    within each ad), written apart from the function: F = i / (A (1 - e^(-i/A)))."""
    out = np.empty(len(ad))
    for a in np.unique(ad):
        rows = np.flatnonzero(ad == a)
        mid = np.cumsum(imps[rows]) - imps[rows] / 2
        out[rows] = mid / (audience[rows] * (1 - np.exp(-mid / audience[rows]))) - 1
    return np.maximum(out, 0.0)


def _delivery(rng, n_ads, n_days, slope, day_sd=0.0):
    """Per ad-day rows in day order: each ad its own level and audience, impressions that
    differ by ad and day, clicks Poisson at exp(level - slope x excess) (times a day's
    mean-one lognormal with day_sd)."""
    ad = np.repeat(np.arange(n_ads), n_days)
    day = np.tile(np.arange(n_days), n_ads)
    level = rng.normal(-4.0, 0.5, n_ads)[ad]
    audience = rng.uniform(1500, 20000, n_ads)[ad]
    imps = rng.integers(500, 6000, n_ads * n_days).astype(float)
    excess = _excess(ad, imps, audience)
    rate = np.exp(level - slope * excess) * rng.lognormal(-(day_sd**2) / 2, day_sd, len(ad))
    clicks = np.minimum(rng.poisson(imps * rate).astype(float), imps)
    return ad, day, imps, clicks, audience, excess


def _fixed_effects_glm(ad, imps, clicks, excess, scale=None):
    """The reference: a Poisson GLM with one dummy per ad and log impressions as the
    offset (its slope is the conditional maximum likelihood one)."""
    dummies = np.eye(ad.max() + 1)[ad]
    X = np.column_stack([-excess, dummies])
    return sm.GLM(clicks, X, family=sm.families.Poisson(), offset=np.log(imps)).fit(
        tol=1e-12, scale=scale
    )


def test_the_slope_is_the_fixed_effects_poisson_glms(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(11)
    ad, day, imps, clicks, audience, excess = _delivery(rng, 40, 10, 0.3)
    slope, sd, logs = _offsets(db, ad + 1, day, imps, clicks, audience)
    glm = _fixed_effects_glm(ad, imps, clicks, excess)
    assert slope == pytest.approx(glm.params[0], abs=1e-7)
    # Poisson data: the Pearson dispersion is about 1, and below it the interval is the
    # model's own.
    x2 = _fixed_effects_glm(ad, imps, clicks, excess, scale="X2")
    assert sd == pytest.approx(glm.bse[0] * math.sqrt(max(x2.scale, 1.0)), rel=1e-5)
    assert abs(slope - 0.3) < 3 * sd
    # Each ad's offset: the log of its impressions' mean fatigue factor under the slope.
    for a in range(40):
        rows = ad == a
        want = np.log(np.sum(imps[rows] * np.exp(-slope * excess[rows])) / np.sum(imps[rows]))
        assert logs[a] == pytest.approx(want, rel=1e-9)


def test_the_rows_order_and_an_ads_second_mapping_change_nothing(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(15)
    ad, day, imps, clicks, audience, _ = _delivery(rng, 12, 8, 0.4)
    one = _offsets(db, ad + 1, day, imps, clicks, audience)
    # The rows shuffled, and each ad-day of ad 0 split over two rows (two Meta ads).
    split = np.flatnonzero(ad == 0)
    half = np.floor(imps[split] / 2)
    part = np.floor(clicks[split] / 2)
    rows = [
        np.concatenate([ad, ad[split]]),
        np.concatenate([day, day[split]]),
        np.concatenate([imps, np.zeros(len(split))]),
        np.concatenate([clicks, np.zeros(len(split))]),
        np.concatenate([audience, audience[split]]),
    ]
    rows[2][split], rows[3][split] = imps[split] - half, clicks[split] - part
    rows[2][len(ad) :], rows[3][len(ad) :] = half, part
    order = rng.permutation(len(rows[0]))
    two = _offsets(db, *(r[order] + (1 if i == 0 else 0) for i, r in enumerate(rows)))
    assert two[0] == pytest.approx(one[0], abs=1e-12)
    assert two[1] == pytest.approx(one[1], rel=1e-9)
    np.testing.assert_allclose(two[2], one[2], rtol=1e-9)


def test_day_to_day_scatter_widens_the_slopes_interval_by_the_pearson_dispersion(
    db: psycopg.Connection,
) -> None:
    rng = np.random.default_rng(12)
    ad, day, imps, clicks, audience, excess = _delivery(rng, 60, 12, 0.5, day_sd=0.3)
    slope, sd, _ = _offsets(db, ad + 1, day, imps, clicks, audience)
    x2 = _fixed_effects_glm(ad, imps, clicks, excess, scale="X2")
    assert x2.scale > 3
    assert slope == pytest.approx(x2.params[0], abs=1e-7)
    assert sd == pytest.approx(x2.bse[0], rel=1e-5)


def test_the_slopes_intervals_cover_the_truth_over_many_markets(db: psycopg.Connection) -> None:
    """Coverage where the truth is known, with the days' extra scatter the Poisson model
    does not have: the widened 95% interval covers the slope in about 95 of 100 markets."""
    rng = np.random.default_rng(13)
    covered = 0
    for _ in range(100):
        truth = float(rng.uniform(0.0, 0.8))
        ad, day, imps, clicks, audience, _ = _delivery(rng, 30, 10, truth, day_sd=0.25)
        slope, sd, _ = _offsets(db, ad + 1, day, imps, clicks, audience)
        covered += abs(slope - truth) <= 1.959964 * sd
    assert 88 <= covered <= 100


def test_the_prior_pulls_a_slope_without_evidence_to_zero(db: psycopg.Connection) -> None:
    # One day per ad: conditioning on each ad's clicks leaves nothing to learn from.
    slope, sd, logs = _offsets(
        db, [1, 2, 4], [0, 0, 0], [1000, 2000, 3000], [10, 30, 20], [900, 900, 900], 0.7
    )
    assert slope == pytest.approx(0.0, abs=1e-12)
    assert sd == pytest.approx(0.7, rel=1e-9)
    # Ad 3 has no rows: no offset.
    assert logs[:3] == [0.0, 0.0, None] and logs[3] == 0.0
    assert _offsets(db, [], [], [], [], []) == (None, None, None)


@pytest.mark.parametrize(
    ("ads", "impressions", "clicks", "audiences", "prior_sd", "message"),
    [
        ([1, 1], [100, 100], [1], [50, 50], 1.0, "differ in length"),
        ([0, 0], [100, 100], [1, 2], [50, 50], 1.0, "1-based"),
        ([1, 1], [100, 0], [1, 0], [50, 50], 1.0, "1-based"),
        ([1, 1], [100, 100], [1, 200], [50, 50], 1.0, "1-based"),
        ([1, 1], [100, 100], [1, 2], [50, 0], 1.0, "audiences positive"),
        ([1, 1], [100, 100], [1, 2], [50, float("nan")], 1.0, "audiences positive"),
        ([1, 1], [100, 100], [1, 2], [50, 50], 0.0, "prior sd"),
    ],
)
def test_the_offsets_refuse_bad_input(db, ads, impressions, clicks, audiences, prior_sd, message):
    with pytest.raises(psycopg.errors.InternalError_, match=message):
        _offsets(db, ads, [0, 1][: len(ads)], impressions, clicks, audiences, prior_sd)


def test_the_fits_offsets_are_a_glms_offsets(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(14)
    levels = [3, 4]
    designs = [tuple(int(rng.integers(n)) for n in levels) for _ in range(120)]
    X = _one_hot(designs, levels)
    true = np.concatenate([[-3.5], rng.normal(0, 0.4, X.shape[1] - 1)])
    offsets = -rng.uniform(0.0, 1.5, len(designs))
    trials = rng.integers(500, 5000, len(designs))
    successes = rng.binomial(trials, expit(X @ true + offsets))
    fit = _fit(db, designs, successes, trials, levels, prior_sd=1e4, log_odds_offsets=list(offsets))
    keep = [0] + [
        int(o) + v for o, n in zip(fit["offsets"], levels, strict=True) for v in range(1, n)
    ]
    glm = sm.GLM(
        np.column_stack([successes, trials - successes]),
        X[:, keep],
        family=sm.families.Binomial(),
        offset=offsets,
    ).fit(tol=1e-12)
    # Binomial data with these offsets: no overdispersion to refit for.
    assert fit["dispersion"] == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(X @ fit["mean"], X[:, keep] @ glm.params, atol=2e-3)
    with pytest.raises(psycopg.errors.InternalError_, match="one finite offset per ad"):
        _fit(db, designs, successes, trials, levels, log_odds_offsets=[0.0] * 3)


AUDIENCE = 2000.0
RATE = 0.3


def _heavily_served_brand(db, *, days: int = 10):
    """A brand whose best hook Meta served six times as heavily as the others, to an audience
    of 2,000 per ad: its ads' frequency climbs and their CTR falls (by RATE per view per
    person) until their lifetime CTR is below the plain hooks'."""
    dims = _dimensions(db)
    hook_dim = "hook_type"
    hooks = dims[hook_dim][:3]
    good = hooks[0]
    rng = np.random.default_rng(21)
    start = (T0 - (days + 1) * dt.timedelta(days=1)).date()
    tags, per_ad = [], []
    for i in range(150):
        hook = hooks[i % 3]
        daily = 6000 if hook == good else 1000
        fresh = -4.0 + (0.35 if hook == good else 0.0) + rng.normal(0, 0.1)
        cum, rows = 0.0, []
        for d in range(days):
            mid = cum + daily / 2
            freq = mid / (AUDIENCE * (1 - math.exp(-mid / AUDIENCE)))
            ctr = math.exp(fresh - RATE * max(freq - 1.0, 0.0))
            clicks = int(rng.poisson(daily * ctr))
            reach = round(AUDIENCE * (1 - math.exp(-daily / AUDIENCE)))
            rows.append((start + dt.timedelta(days=d), daily, clicks, reach))
            cum += daily
        # (A second dimension with no effect, balanced against the hooks: pairs for
        # genome.interactions.)
        tags.append({hook_dim: hook, "color_mode": dims["color_mode"][(i // 3) % 2]})
        per_ad.append(rows)
    brand = f.brand(db)
    impressions = [sum(r[1] for r in rows) for rows in per_ad]
    clicks = [sum(r[2] for r in rows) for rows in per_ad]
    last = start + dt.timedelta(days=days - 1)
    ids = _brand_ads(db, brand, tags, impressions, clicks, [start] * 150, [last] * 150, [T0] * 150)
    for ad_id, rows in zip(ids, per_ad, strict=True):
        meta = f.link(db, ad_id)
        db.execute(
            "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id, "
            "date, spend, impressions, link_clicks, reach, brand_id, campaign_objective) "
            "SELECT 'acct', %s, 'c1', x.d, 10, x.i, x.c, x.r, %s, 'OUTCOME_TRAFFIC' "
            "FROM unnest(%s::date[], %s::bigint[], %s::bigint[], %s::bigint[]) AS x (d, i, c, r)",
            (meta, brand, *[list(col) for col in zip(*rows, strict=True)]),
        )
    return brand, hook_dim, hooks, tags, impressions, clicks, ids


def test_a_hook_served_into_fatigue_is_judged_as_a_fresh_ad(db: psycopg.Connection) -> None:
    brand, hook_dim, hooks, tags, impressions, clicks, _ = _heavily_served_brand(db)
    good = hooks[0]
    # As delivered, the best hook's ads click less than the others.
    raw = {}
    for t, n, c in zip(tags, impressions, clicks, strict=True):
        raw.setdefault(t[hook_dim], [0, 0])
        raw[t[hook_dim]][0] += c
        raw[t[hook_dim]][1] += n
    assert max(raw, key=lambda h: raw[h][0] / raw[h][1]) != good
    db.execute("SELECT genome.detect_fatigue(%s)", (T0,))
    audiences = db.execute(
        "SELECT min(est_audience), max(est_audience) FROM genome.ad_fatigue"
    ).fetchone()
    assert audiences[0] == pytest.approx(AUDIENCE, rel=0.01)
    assert audiences[1] == pytest.approx(AUDIENCE, rel=0.01)

    _use(db, "joint_logistic", learner_frequency="ignore")
    db.execute("SELECT genome.update_scores(%s, true)", (T0,))
    # (Among the hooks the brand ran: the others' means are their priors'.)
    ignored = {h: m for h, m in _posterior_means(db, brand, hook_dim).items() if h in hooks}
    slope = db.execute(
        "SELECT frequency_slope FROM genome.learner_posteriors WHERE brand_id = %s", (brand,)
    ).fetchone()[0]
    assert slope is None
    assert max(ignored, key=ignored.get) != good

    _use(db, "joint_logistic", learner_frequency="adjust")
    db.execute("SET ROLE genome_owner")
    db.execute("SELECT genome.update_scores(%s, true)", (T0 + dt.timedelta(minutes=1),))
    db.execute("RESET ROLE")
    adjusted = {h: m for h, m in _posterior_means(db, brand, hook_dim).items() if h in hooks}
    assert max(adjusted, key=adjusted.get) == good
    slope, sd = db.execute(
        "SELECT frequency_slope, frequency_slope_sd FROM genome.learner_posteriors "
        "WHERE brand_id = %s",
        (brand,),
    ).fetchone()
    assert abs(slope - RATE) < 3 * sd and sd < 0.02
    # The fresh ads' effect of the hook, the planted 0.35 on the log-odds.
    names, means = db.execute(
        "SELECT parameters, posterior_mean FROM genome.learner_posteriors WHERE brand_id = %s",
        (brand,),
    ).fetchone()
    effect = dict(zip(names, means, strict=True))
    gap = effect[f"{hook_dim}={good}"] - np.mean([effect[f"{hook_dim}={h}"] for h in hooks[1:]])
    assert gap == pytest.approx(0.35, abs=0.1)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("learner_frequency", "sometimes"),
        ("learner_frequency_prior_sd", 0),
        ("learner_frequency_prior_sd", -1),
    ],
)
def test_update_scores_refuses_bad_frequency_settings(db: psycopg.Connection, key, value) -> None:
    _use(db, "joint_logistic", **{key: value})
    with pytest.raises(psycopg.Error, match=key) as err:
        db.execute("SELECT genome.update_scores(%s, true)", (T0,))
    assert err.value.sqlstate == "GN090"


def _attribution(db, brand, dimension):
    cur = db.execute("SELECT * FROM genome.attribute(%s, %s, %s)", (brand, dimension, T0))
    cols = [c.name for c in cur.description]
    return {r[1]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def test_attribution_counts_a_heavily_served_hooks_impressions_as_fresh_ones(
    db: psycopg.Connection,
) -> None:
    """docs/attribution.md#fatigue: as delivered the best hook's odds ratio is below 1; with
    the learner's per-ad factors it is the planted one, and equals statsmodels' on the
    tables of impressions x exp(factor)."""
    brand, hook_dim, hooks, tags, impressions, clicks, ids = _heavily_served_brand(db)
    good = hooks[0]
    db.execute("SELECT genome.detect_fatigue(%s)", (T0,))

    # Without the adjustment: no factors kept, and attribution reads the ads as delivered.
    _use(db, "joint_logistic", learner_frequency="ignore")
    db.execute("SELECT genome.update_scores(%s, true)", (T0,))
    kept = db.execute(
        "SELECT frequency_ad_ids, frequency_log_factors FROM genome.learner_posteriors "
        "WHERE brand_id = %s",
        (brand,),
    ).fetchone()
    assert kept == (None, None)
    delivered = _attribution(db, brand, hook_dim)
    assert delivered[good]["mh_odds_ratio"] < 1
    assert delivered[good]["fatigue_adjusted_ctr"] == pytest.approx(delivered[good]["ctr"])

    _use(db, "joint_logistic", learner_frequency="adjust")
    db.execute("SELECT genome.update_scores(%s, true)", (T0 + dt.timedelta(minutes=1),))
    ad_ids, factors = db.execute(
        "SELECT frequency_ad_ids, frequency_log_factors FROM genome.learner_posteriors "
        "WHERE brand_id = %s",
        (brand,),
    ).fetchone()
    assert sorted(ad_ids) == sorted(ids)  # every ad was served past a frequency of 1
    factor = dict(zip(ad_ids, factors, strict=True))
    # The heavily served hook's ads fatigued most.
    by_hook = {
        h: np.mean([factor[i] for i, t in zip(ids, tags, strict=True) if t[hook_dim] == h])
        for h in hooks
    }
    assert by_hook[good] < min(by_hook[h] for h in hooks[1:]) < 0

    fresh = _attribution(db, brand, hook_dim)
    row = fresh[good]
    # The reference: one stratum (same week, spend bucket and audience), the good hook's ads
    # against the rest, each ad's impressions times exp(its factor).
    exposure = np.array([n * math.exp(factor[i]) for i, n in zip(ids, impressions, strict=True)])
    k = np.array(clicks, dtype=float)
    mine = np.array([t[hook_dim] == good for t in tags])
    table = np.array(
        [
            [k[mine].sum(), (exposure - k)[mine].sum()],
            [k[~mine].sum(), (exposure - k)[~mine].sum()],
        ]
    )
    ref = StratifiedTable([table])
    assert row["mh_odds_ratio"] == pytest.approx(ref.oddsratio_pooled, rel=1e-9)
    assert math.log(row["mh_odds_ratio"]) == pytest.approx(0.35, abs=0.12)
    assert row["fatigue_adjusted_ctr"] == pytest.approx(table[0, 0] / table[0].sum(), rel=1e-9)
    # ctr, impressions and the crude odds ratio stay as delivered: the naive comparison
    # points the other way, which is the reversal flag.
    n = np.array(impressions, dtype=float)
    assert row["impressions"] == int(n[mine].sum())
    assert row["ctr"] == pytest.approx(k[mine].sum() / n[mine].sum(), rel=1e-9)
    assert row["crude_odds_ratio"] == pytest.approx(delivered[good]["crude_odds_ratio"], rel=1e-9)
    assert row["crude_odds_ratio"] < 1 < row["mh_odds_ratio"] and row["reversal"]

    # genome.interactions counts the same exposures: a pair's pooled impressions are its
    # ads' fresh ones.
    db.execute("UPDATE genome.settings SET value = '100' WHERE key = 'interaction_top_n'")
    pairs = db.execute(
        "SELECT dimension_a, value_a, dimension_b, value_b, impressions_both "
        "FROM genome.interactions(%s, %s)",
        (brand, T0),
    ).fetchall()
    assert pairs
    for dim_a, val_a, dim_b, val_b, both in pairs:
        carry = np.array([t.get(dim_a) == val_a and t.get(dim_b) == val_b for t in tags])
        assert both == int(exposure[carry].sum())
