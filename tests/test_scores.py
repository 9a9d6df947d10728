"""genome.update_scores: Beta counts, cold-start levels, category priors, win probabilities."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
from scipy import integrate
from scipy.stats import beta as beta_dist

from sim import factories as f

T0 = dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _brand_with_rewards(db, items, *, category=None, sharing=False, at=T0, imported=False):
    b = f.brand(db, category=category, sharing=sharing)
    run = f.ad_run(db, f.product(db, b))
    f.bulk_rewards(db, run, items, at, imported=imported)
    return b


def _score(db, brand_id, dim, value, product_id=None):
    row = db.execute(
        "SELECT alpha, beta, prior_alpha, prior_beta, posterior_alpha, posterior_beta, "
        "win_probability, confidence_width, n_rewards, cold_start_level "
        "FROM genome.creative_element_scores WHERE brand_id = %s AND product_id IS NOT DISTINCT FROM %s "
        "AND element_dimension = %s AND element_value = %s",
        (brand_id, product_id, dim, value),
    ).fetchone()
    keys = [
        "alpha",
        "beta",
        "prior_alpha",
        "prior_beta",
        "post_alpha",
        "post_beta",
        "win",
        "width",
        "n",
        "level",
    ]
    return dict(zip(keys, row, strict=True))


def test_alpha_beta_count_successes_and_imported_weight(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    items = [({"hook_type": "authority"}, 0.9)] * 6 + [({"hook_type": "authority"}, 0.2)] * 2
    b = _brand_with_rewards(db, items)
    run = db.execute(
        "SELECT r.id FROM ad_runs r JOIN products p ON p.id = r.product_id WHERE p.brand_id = %s",
        (b,),
    ).fetchone()[0]
    f.bulk_rewards(db, run, [({"hook_type": "authority"}, 0.7)] * 4, T0, imported=True)
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,))
    s = _score(db, b, "hook_type", "authority")
    assert s["alpha"] == pytest.approx(1 + 6 + 0.5 * 4)
    assert s["beta"] == pytest.approx(1 + 2)
    assert s["n"] == 12
    untouched = _score(db, b, "hook_type", "story")
    assert (untouched["alpha"], untouched["beta"], untouched["n"]) == (1.0, 1.0, 0)
    # The product-level row exists too, shrunk toward the brand.
    product = db.execute("SELECT id FROM products WHERE brand_id = %s", (b,)).fetchone()[0]
    p = _score(db, b, "hook_type", "authority", product)
    assert p["alpha"] == pytest.approx(s["alpha"])
    assert p["post_alpha"] > p["alpha"]


def test_rewards_matured_after_now_are_ignored(db: psycopg.Connection) -> None:
    b = _brand_with_rewards(db, [({"hook_type": "authority"}, 0.9)] * 3, at=T0 + 5 * DAY)
    db.execute("SELECT genome.update_scores(%s)", (T0,))
    assert _score(db, b, "hook_type", "authority")["n"] == 0
    assert (
        db.execute(
            "SELECT cold_start_level FROM genome.genome_state WHERE brand_id = %s", (b,)
        ).fetchone()[0]
        == 0
    )


def test_win_probabilities_match_exact_integration(db: psycopg.Connection) -> None:
    items = (
        [({"color_mode": "brand"}, 0.9)] * 7
        + [({"color_mode": "brand"}, 0.1)] * 3
        + [({"color_mode": "original"}, 0.9)] * 4
        + [({"color_mode": "original"}, 0.1)] * 4
        + [({"color_mode": "complementary"}, 0.1)] * 2
    )
    # The Betas' win probabilities (the one-bit learner's); a joint learner's brand draws
    # them from its joint posterior (tests/test_learner.py).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    b = _brand_with_rewards(db, items)
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,))
    rows = db.execute(
        "SELECT element_value, posterior_alpha, posterior_beta, win_probability, confidence_width "
        "FROM genome.creative_element_scores WHERE brand_id = %s AND product_id IS NULL "
        "AND element_dimension = 'color_mode'",
        (b,),
    ).fetchall()
    params = [(r[1], r[2]) for r in rows]
    for value, a, bb, win, width in rows:
        others = [(x, y) for (x, y) in params if (x, y) != (a, bb)]
        exact = integrate.quad(
            lambda x, a=a, bb=bb, others=others: (
                beta_dist.pdf(x, a, bb) * np.prod([beta_dist.cdf(x, oa, ob) for oa, ob in others])
            ),
            0,
            1,
        )[0]
        assert win == pytest.approx(exact, abs=0.015), value
        assert width == pytest.approx(beta_dist.ppf(0.975, a, bb) - beta_dist.ppf(0.025, a, bb))
    sums = db.execute(
        "SELECT element_dimension, sum(win_probability) FROM genome.creative_element_scores "
        "WHERE brand_id = %s GROUP BY product_id, element_dimension",
        (b,),
    ).fetchall()
    assert all(s == pytest.approx(1.0, abs=1e-9) for _, s in sums)


def test_cold_start_levels_progress_with_time(db: psycopg.Connection) -> None:
    empty = f.brand(db)
    b = _brand_with_rewards(db, [({"hook_type": "story"}, 0.8)] * 40)

    def level(brand, now):
        db.execute("SELECT genome.update_scores(%s)", (now,))
        return db.execute(
            "SELECT cold_start_level, brand_weight FROM genome.genome_state WHERE brand_id = %s",
            (brand,),
        ).fetchone()

    assert level(empty, T0 + DAY)[0] == 0
    assert level(b, T0 + DAY) == (1, 0.0)
    lvl, bw = level(b, T0 + 15 * DAY)
    assert (lvl, bw) == (2, pytest.approx(min(40 / 100, 0.8)))
    assert level(b, T0 + 31 * DAY) == (3, 1.0)


def test_new_brand_starts_from_opted_in_peers_pooled_prior(db: psycopg.Connection) -> None:
    # The pooling arithmetic with two peers: the privacy minimum and rounding
    # (docs/learning.md#private-priors, tests/test_transfer.py) switched off.
    db.execute(
        "UPDATE genome.settings SET value = '1' WHERE key IN "
        "('prior_min_peer_brands', 'prior_min_peer_organizations', 'prior_count_granularity')"
    )
    peer_a = [({"hook_type": "authority"}, 0.9)] * 10 + [({"hook_type": "authority"}, 0.1)] * 2
    peer_b = [({"hook_type": "authority"}, 0.8)] * 5 + [({"hook_type": "authority"}, 0.3)] * 3
    _brand_with_rewards(db, peer_a, category="skincare", sharing=True)
    _brand_with_rewards(db, peer_b, category="skincare", sharing=True)
    # An opted-out peer with strong contrary evidence must contribute nothing.
    _brand_with_rewards(db, [({"hook_type": "authority"}, 0.0)] * 50, category="skincare")
    # Another category contributes nothing either.
    _brand_with_rewards(db, [({"hook_type": "authority"}, 0.0)] * 50, category="pets", sharing=True)
    newcomer = f.brand(db, category="skincare", sharing=True)
    loner = f.brand(db, category="skincare", sharing=False)
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,))
    s = _score(db, newcomer, "hook_type", "authority")
    assert s["level"] == 0
    assert s["prior_alpha"] == pytest.approx(1 + 0.3 * (10 + 5))
    assert s["prior_beta"] == pytest.approx(1 + 0.3 * (2 + 3))
    assert (s["post_alpha"], s["post_beta"]) == (
        pytest.approx(s["prior_alpha"]),
        pytest.approx(s["prior_beta"]),
    )
    peers = db.execute(
        "SELECT peer_brands FROM genome.brand_priors WHERE brand_id = %s "
        "AND element_value = 'authority'",
        (newcomer,),
    ).fetchone()[0]
    assert peers == 2
    # A brand that did not opt in receives nothing.
    assert (
        db.execute(
            "SELECT count(*) FROM genome.brand_priors WHERE brand_id = %s", (loner,)
        ).fetchone()[0]
        == 0
    )
    ls = _score(db, loner, "hook_type", "authority")
    assert (ls["post_alpha"], ls["post_beta"]) == (1.0, 1.0)
    # The newcomer's scoring leans on the prior; the loner's does not.
    assert s["post_alpha"] / (s["post_alpha"] + s["post_beta"]) > 0.6
    tags = '{"hook_type": "authority"}'
    new_score, loner_score = (
        db.execute("SELECT genome.pre_gen_score(%s, NULL, %s)", (x, tags)).fetchone()[0]
        for x in (newcomer, loner)
    )
    assert float(new_score) == pytest.approx(
        s["post_alpha"] / (s["post_alpha"] + s["post_beta"]), abs=1e-4
    )
    assert float(loner_score) == 0.5


def test_level_two_and_three_blending(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    # One peer's prior: the privacy minimum (docs/learning.md#private-priors) switched off.
    db.execute(
        "UPDATE genome.settings SET value = '1' WHERE key IN "
        "('prior_min_peer_brands', 'prior_min_peer_organizations')"
    )
    _brand_with_rewards(db, [({"hook_type": "authority"}, 0.9)] * 100, category="c", sharing=True)
    b = _brand_with_rewards(
        db, [({"hook_type": "authority"}, 0.1)] * 20, category="c", sharing=True
    )
    db.execute("SELECT genome.update_scores(%s)", (T0 + 20 * DAY,))
    s = _score(db, b, "hook_type", "authority")
    bw = min(20 / 100, 0.8)
    assert s["level"] == 2
    assert s["post_alpha"] == pytest.approx(s["alpha"] + (1 - bw) * (s["prior_alpha"] - 1))
    assert s["post_beta"] == pytest.approx(s["beta"] + (1 - bw) * (s["prior_beta"] - 1))
    db.execute("SELECT genome.update_scores(%s)", (T0 + 40 * DAY,))
    s3 = _score(db, b, "hook_type", "authority")
    assert s3["level"] == 3
    # Level 3: the prior keeps only prior_n = 10 pseudo-observations.
    kept = (s3["post_alpha"] - s3["alpha"]) + (s3["post_beta"] - s3["beta"])
    assert kept == pytest.approx(10.0)


def test_versions_increase_and_combos_are_kept(db: psycopg.Connection) -> None:
    tags = {"hook_type": "authority", "color_mode": "brand", "belief_angle": "identity"}
    b = _brand_with_rewards(db, [(tags, 0.9)] * 3 + [(tags, 0.2)])
    v1 = db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,)).fetchone()
    ver1 = db.execute(
        "SELECT genome_version FROM genome.genome_state WHERE brand_id = %s", (b,)
    ).fetchone()[0]
    # Nothing changed: the daily (incremental) update keeps the brand's version
    # (docs/learning.md#incremental-update); the full rebuild gives it a new one.
    db.execute("SELECT genome.update_scores(%s)", (T0 + 2 * DAY,))
    state = "SELECT genome_version FROM genome.genome_state WHERE brand_id = %s"
    assert db.execute(state, (b,)).fetchone()[0] == ver1
    db.execute("SELECT genome.update_scores(%s, true)", (T0 + 2 * DAY,))
    ver2 = db.execute(state, (b,)).fetchone()[0]
    assert v1[0] > 0 and ver2 > ver1
    combos = db.execute(
        "SELECT combo_size, combo_key, alpha, beta, n_rewards FROM genome.element_combo_scores "
        "WHERE brand_id = %s ORDER BY combo_key",
        (b,),
    ).fetchall()
    assert {c[0] for c in combos} == {2, 3}
    assert len(combos) == 4  # 3 pairs + 1 triple
    triple = next(c for c in combos if c[0] == 3)
    assert triple[1] == "belief_angle=identity|color_mode=brand|hook_type=authority"
    assert (triple[2], triple[3], triple[4]) == (4.0, 2.0, 4)


def test_null_now_refused(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.update_scores(NULL)")
    assert err.value.sqlstate == "GN004"


def test_causal_effects_are_the_strongest_evidence(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    items = [({"hook_type": "authority"}, 0.9)] * 10 + [({"hook_type": "authority"}, 0.1)] * 10
    items += [({"hook_type": "story"}, 0.9)] * 1 + [({"hook_type": "story"}, 0.1)] * 1
    b = _brand_with_rewards(db, items)
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,))
    before = _score(db, b, "hook_type", "story")
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    exp = db.execute(
        "INSERT INTO genome.experiments (organization_id, brand_id, name, hypothesis, test_variable, "
        "status) VALUES (%s, %s, 'e', 'story beats authority', 'hook_type', 'completed') RETURNING id",
        (org, b),
    ).fetchone()[0]
    # A completed experiment: story's CTR is 40% above authority's (95% CI 30%-50%).
    db.execute(
        "INSERT INTO genome.causal_effects (organization_id, brand_id, experiment_id, test_variable, "
        "control_value, treatment_value, primary_metric, effect_size, relative_effect, "
        "relative_ci_lower, relative_ci_upper, control_n, treatment_n, created_at) "
        "VALUES (%s, %s, %s, 'hook_type', 'authority', 'story', 'link_ctr', 0.004, 0.40, 0.30, "
        "0.50, 20000, 20000, %s)",
        (org, b, exp, T0),
    )
    db.execute("SELECT genome.update_scores(%s)", (T0 + 2 * DAY,))
    after = _score(db, b, "hook_type", "story")
    authority = _score(db, b, "hook_type", "authority")
    mean = lambda s: s["post_alpha"] / (s["post_alpha"] + s["post_beta"])  # noqa: E731
    # Story was barely observed; the experiment moves it towards 1.4 x authority's mean ...
    assert mean(before) == pytest.approx(0.5)
    assert mean(after) > mean(authority)
    assert mean(after) == pytest.approx(1.4 * mean(authority), rel=0.15)
    # ... and makes it more certain than its own two observations could.
    assert after["post_alpha"] + after["post_beta"] > before["post_alpha"] + before["post_beta"]
    # An effect created after p_now is not used yet.
    db.execute("SELECT genome.update_scores(%s)", (T0 - DAY,))
    assert mean(_score(db, b, "hook_type", "story")) == pytest.approx(0.5)


def test_an_experiments_own_ads_move_the_posterior_once(db: psycopg.Connection) -> None:
    """docs/learning.md#causal-evidence, with the joint learner (the default): an experiment
    whose arm ads' rewards are in the learner's evidence adds nothing on top of them; read
    before they mature it counts in full; half matured, in between."""
    b = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    run = f.ad_run(db, f.product(db, b))
    items = [({"hook_type": "authority"}, 0.5)] * 12 + [({"hook_type": "story"}, 0.5)] * 12
    ads = f.bulk_rewards(db, run, items, T0)
    # A traffic brand: the learner's scale is CTR; authority 2.0%, story 2.4% (1,000 impressions each).
    db.execute(
        "UPDATE genome.creative_element_rewards SET reward_objective = 'TRAFFIC', "
        "total_clicks = CASE WHEN element_tags ->> 'hook_type' = 'story' THEN 24 ELSE 20 END "
        "WHERE brand_id = %s",
        (b,),
    )
    exp = db.execute(
        "INSERT INTO genome.experiments (organization_id, brand_id, name, hypothesis, "
        "test_variable, status) VALUES (%s, %s, 'e', 'story beats authority', 'hook_type', "
        "'completed') RETURNING id",
        (org, b),
    ).fetchone()[0]
    # The arms are two of those ads each: story's CTR 20% above authority's. The effect is
    # reported as exactly that (95% CI 0%-40%), the same observations as their rewards.
    arms = {"authority": ads[:2], "story": ads[12:14]}
    for i, (value, arm_ads) in enumerate(arms.items()):
        for j, ad in enumerate(arm_ads):
            db.execute(
                "INSERT INTO genome.experiment_arms (experiment_id, arm_name, arm_index, "
                "test_variable_value, generated_ad_id, total_impressions, total_clicks) "
                "VALUES (%s, %s, %s, %s, %s, 1000, %s)",
                (exp, f"{value}{j}", 2 * i + j, value, ad, 24 if value == "story" else 20),
            )

    def story(at: dt.datetime) -> tuple[float, float]:
        db.execute("SELECT genome.update_scores(%s)", (at,))
        return db.execute(
            "SELECT posterior_alpha, posterior_beta FROM genome.creative_element_scores "
            "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = 'hook_type' "
            "AND element_value = 'story'",
            (b,),
        ).fetchone()

    def with_effect(at: dt.datetime) -> tuple[tuple[float, float], tuple[float, float]]:
        db.execute("DELETE FROM genome.causal_effects")
        without = story(at)
        db.execute(
            "INSERT INTO genome.causal_effects (organization_id, brand_id, experiment_id, "
            "test_variable, control_value, treatment_value, primary_metric, effect_size, "
            "relative_effect, relative_ci_lower, relative_ci_upper, control_n, treatment_n, "
            "created_at) VALUES (%s, %s, %s, 'hook_type', 'authority', 'story', 'link_ctr', "
            "0.004, 0.20, 0.0, 0.40, 2000, 2000, %s)",
            (org, b, exp, T0 - DAY),
        )
        return without, story(at)

    # Every arm ad matured: entered as rewards and as the experiment, the posterior moves once.
    without, once = with_effect(T0 + DAY)
    assert once == pytest.approx(without, rel=1e-9)

    # The arms' ads not yet matured: the experiment is the only entry of its observations.
    arm_ads = [a for v in arms.values() for a in v]
    later = T0 + 10 * DAY
    db.execute(
        "UPDATE genome.creative_element_rewards SET matured_at = %s "
        "WHERE generated_ad_id = ANY(%s)",
        (later, arm_ads),
    )
    without_full, full = with_effect(T0 + DAY)
    # It agrees with the ads (story 1.2 x authority), so it adds certainty, not a new mean.
    assert sum(full) > 1.2 * sum(without_full)

    # Half of each arm matured: the effect counts at half its precision.
    db.execute(
        "UPDATE genome.creative_element_rewards SET matured_at = %s WHERE generated_ad_id = ANY(%s)",
        (T0, [arms["authority"][0], arms["story"][0]]),
    )
    without_half, half = with_effect(T0 + DAY)
    gain = lambda a, b: sum(a) - sum(b)  # noqa: E731
    assert 0 < gain(half, without_half) < gain(full, without_full)
