"""The steps of genome.update_scores, each called on its own (docs/learning.md)."""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg
import pytest
from psycopg.types.json import Jsonb

from sim import factories as f

T0 = dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
VERSION = 41


def _brand_with_rewards(db, items, *, at=T0, imported=False):
    b = f.brand(db)
    p = f.product(db, b)
    f.bulk_rewards(db, f.ad_run(db, p), items, at, imported=imported)
    return b, p


def _brand_scores(db, brand_id, dim, value):
    return db.execute(
        "SELECT alpha, beta, prior_alpha, prior_beta, posterior_alpha, posterior_beta, n_rewards, "
        "genome_version FROM genome.creative_element_scores WHERE brand_id = %s AND product_id IS NULL "
        "AND element_dimension = %s AND element_value = %s",
        (brand_id, dim, value),
    ).fetchone()


def _levels_and_brand_scores(db, now):
    db.execute("SELECT genome._update_scores_cold_start_levels(%s, %s)", (now, VERSION))
    db.execute("SELECT genome._update_scores_brand_priors(%s, %s)", (now, VERSION))
    return db.execute(
        "SELECT genome._update_scores_brand_scores(%s, %s)", (now, VERSION)
    ).fetchone()[0]


def test_cold_start_levels_step(db: psycopg.Connection) -> None:
    empty = f.brand(db)
    young, _ = _brand_with_rewards(db, [({"hook_type": "authority"}, 0.9)] * 5)
    old, _ = _brand_with_rewards(db, [({"hook_type": "authority"}, 0.9)] * 50, at=T0 - 20 * DAY)
    written = db.execute(
        "SELECT genome._update_scores_cold_start_levels(%s, %s)", (T0 + DAY, VERSION)
    ).fetchone()[0]
    assert written == db.execute("SELECT count(*) FROM brands").fetchone()[0]
    state = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT brand_id, cold_start_level, matured_ads, brand_weight, genome_version "
            "FROM genome.genome_state"
        ).fetchall()
    }
    assert state[empty] == (0, 0, 0.0, VERSION)
    assert state[young] == (1, 5, 0.0, VERSION)
    # Level 2 after level2_days (14): brand_weight = min(50 / 100, 0.8).
    assert state[old] == (2, 50, pytest.approx(0.5), VERSION)


def test_brand_priors_step(db: psycopg.Connection) -> None:
    # The pooling arithmetic with one and two peers: the privacy minimum and rounding
    # (docs/learning.md#private-priors, tests/test_transfer.py) switched off.
    db.execute(
        "UPDATE genome.settings SET value = '1' WHERE key IN "
        "('prior_min_peer_brands', 'prior_min_peer_organizations', 'prior_count_granularity')"
    )
    half = [({"hook_type": "authority"}, 0.9), ({"hook_type": "authority"}, 0.1)]
    peer_a = f.brand(db, category="skincare", sharing=True)
    peer_b = f.brand(db, category="skincare", sharing=True)
    f.bulk_rewards(db, f.ad_run(db, f.product(db, peer_a)), half * 2, T0)
    b_run = f.ad_run(db, f.product(db, peer_b))
    f.bulk_rewards(db, b_run, half, T0)
    # Matured after p_now: left out.
    f.bulk_rewards(db, b_run, [({"hook_type": "authority"}, 0.9)] * 5, T0 + 3 * DAY)
    newcomer = f.brand(db, category="skincare", sharing=True)
    loner = f.brand(db, category="skincare")

    def priors():
        return {
            r[0]: r[1:]
            for r in db.execute(
                "SELECT brand_id, prior_alpha, prior_beta, peer_brands, peer_observations, "
                "shrinkage, between_brand_variance, genome_version FROM genome.brand_priors "
                "WHERE element_dimension = 'hook_type' AND element_value = 'authority'"
            ).fetchall()
        }

    step = "SELECT genome._update_scores_brand_priors(%s, %s)"
    assert db.execute(step, (T0 + DAY, VERSION)).fetchone()[0] == 3
    approx = pytest.approx
    # Two peers that agree (both succeed half the time): no variance beyond binomial noise,
    # so the shrinkage is the cap, category_prior_shrinkage (0.3).
    assert priors()[newcomer] == (approx(1.9), approx(1.9), 2, approx(6), approx(0.3), 0, VERSION)
    # One peer informs the dimension: the cap, and no variance to estimate.
    assert priors()[peer_a] == (approx(1.3), approx(1.3), 1, approx(2), approx(0.3), None, VERSION)
    assert priors()[peer_b] == (approx(1.6), approx(1.6), 1, approx(4), approx(0.3), None, VERSION)
    assert loner not in priors()
    # The step rewrites the table: a second call leaves the same rows.
    assert db.execute(step, (T0 + DAY, VERSION + 1)).fetchone()[0] == 3
    assert {r[-1] for r in priors().values()} == {VERSION + 1}


def test_evidence_step_weights_imported_ads(db: psycopg.Connection) -> None:
    b, p = _brand_with_rewards(
        db, [({"hook_type": "authority"}, 0.9), ({"hook_type": "story"}, 0.2)]
    )
    run = f.ad_run(db, p)
    f.bulk_rewards(db, run, [({"hook_type": "authority"}, 0.7)], T0, imported=True)
    f.bulk_rewards(db, run, [({"hook_type": "authority"}, 0.7)], T0 + 3 * DAY)
    rows = sorted(
        db.execute(
            "SELECT value, success, failure, reward_score FROM genome._update_scores_evidence(%s) "
            "WHERE brand_id = %s AND product_id = %s AND dimension = 'hook_type'",
            (T0 + DAY, b, p),
        ).fetchall()
    )
    # Matured after p_now: left out; imported: weighted imported_ad_weight (0.5).
    assert rows == [
        ("authority", 0.5, 0.0, pytest.approx(0.7)),
        ("authority", 1.0, 0.0, pytest.approx(0.9)),
        ("story", 0.0, 1.0, pytest.approx(0.2)),
    ]


def test_brand_scores_step(db: psycopg.Connection) -> None:
    items = [({"hook_type": "authority"}, 0.9)] * 3 + [({"hook_type": "authority"}, 0.1)]
    b, _ = _brand_with_rewards(db, items)
    written = _levels_and_brand_scores(db, T0 + DAY)
    n_values = db.execute(
        "SELECT count(*) FROM genome.element_values AS v JOIN genome.element_dimensions AS d "
        "ON d.dimension = v.dimension AND d.kind = 'element'"
    ).fetchone()[0]
    assert written == n_values * db.execute("SELECT count(*) FROM brands").fetchone()[0]
    # No prior (no category peers): the posterior is the brand's own evidence.
    assert _brand_scores(db, b, "hook_type", "authority") == (
        4.0,
        2.0,
        1.0,
        1.0,
        4.0,
        2.0,
        4,
        VERSION,
    )
    assert _brand_scores(db, b, "hook_type", "story") == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0, VERSION)
    # Brand level only: product rows are the product step's.
    assert (
        db.execute(
            "SELECT count(*) FROM genome.creative_element_scores WHERE product_id IS NOT NULL"
        ).fetchone()[0]
        == 0
    )


def test_causal_effects_step(db: psycopg.Connection) -> None:
    items = [({"hook_type": "authority"}, 0.9)] * 10 + [({"hook_type": "authority"}, 0.1)] * 10
    b, _ = _brand_with_rewards(db, items)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    exp = db.execute(
        "INSERT INTO genome.experiments (organization_id, brand_id, name, hypothesis, test_variable, "
        "status) VALUES (%s, %s, 'e', 'story beats authority', 'hook_type', 'completed') RETURNING id",
        (org, b),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO genome.causal_effects (organization_id, brand_id, experiment_id, test_variable, "
        "control_value, treatment_value, primary_metric, effect_size, relative_effect, "
        "relative_ci_lower, relative_ci_upper, control_n, treatment_n, created_at) "
        "VALUES (%s, %s, %s, 'hook_type', 'authority', 'story', 'link_ctr', 0.004, 0.40, 0.30, "
        "0.50, 20000, 20000, %s)",
        (org, b, exp, T0),
    )
    _levels_and_brand_scores(db, T0 + DAY)
    own_story = _brand_scores(db, b, "hook_type", "story")
    moved = db.execute(
        "SELECT genome._update_scores_causal_effects(%s, %s)", (T0 + DAY, VERSION)
    ).fetchone()[0]
    # Both directions of the one effect: story anchored on authority and authority on story.
    assert moved == 2
    story = _brand_scores(db, b, "hook_type", "story")
    authority = _brand_scores(db, b, "hook_type", "authority")
    mean = lambda s: s[4] / (s[4] + s[5])  # noqa: E731
    assert mean(own_story) == pytest.approx(0.5)
    assert mean(story) == pytest.approx(1.4 * mean(authority), rel=0.15)
    # Only the posterior moves; the counts stay the genome's own, and the pseudo-count grows.
    assert story[:4] == own_story[:4]
    assert story[4] + story[5] > own_story[4] + own_story[5]
    # An effect recorded after p_now is not used.
    assert (
        db.execute(
            "SELECT genome._update_scores_causal_effects(%s, %s)", (T0 - DAY, VERSION)
        ).fetchone()[0]
        == 0
    )


def test_product_scores_step(db: psycopg.Connection) -> None:
    items = [({"hook_type": "authority"}, 0.9)] * 30 + [({"hook_type": "authority"}, 0.1)] * 10
    b, p = _brand_with_rewards(db, items)
    other = f.product(db, b, "No evidence")
    _levels_and_brand_scores(db, T0 + DAY)
    db.execute(
        "UPDATE genome.creative_element_scores SET posterior_alpha = 61, posterior_beta = 21 "
        "WHERE brand_id = %s AND product_id IS NULL AND element_value = 'authority'",
        (b,),
    )
    written = db.execute(
        "SELECT genome._update_scores_product_scores(%s, %s)", (T0 + DAY, VERSION)
    ).fetchone()[0]
    brand_rows = db.execute(
        "SELECT count(*) FROM genome.creative_element_scores WHERE brand_id = %s AND product_id IS NULL",
        (b,),
    ).fetchone()[0]
    assert written == brand_rows  # every element value of the one product with evidence
    row = db.execute(
        "SELECT alpha, beta, prior_alpha, prior_beta, posterior_alpha, posterior_beta, n_rewards "
        "FROM genome.creative_element_scores WHERE product_id = %s AND element_value = 'authority'",
        (p,),
    ).fetchone()
    # The brand's posterior (60 + 20 pseudo-observations) capped at prior_n_level3 (10).
    assert row == pytest.approx((31.0, 11.0, 8.5, 3.5, 38.5, 13.5, 40))
    assert (
        db.execute(
            "SELECT count(*) FROM genome.creative_element_scores WHERE product_id = %s", (other,)
        ).fetchone()[0]
        == 0
    )


def test_win_probabilities_step(db: psycopg.Connection) -> None:
    items = [({"hook_type": "authority"}, 0.9)] * 30 + [({"hook_type": "story"}, 0.1)] * 30
    b, _ = _brand_with_rewards(db, items)
    _levels_and_brand_scores(db, T0 + DAY)
    updated = db.execute(
        "SELECT genome._update_scores_win_probabilities(%s)", (VERSION,)
    ).fetchone()[0]
    assert (
        updated
        == db.execute(
            "SELECT count(*) FROM genome.creative_element_scores WHERE genome_version = %s",
            (VERSION,),
        ).fetchone()[0]
    )
    dims = db.execute(
        "SELECT element_dimension, sum(win_probability), bool_and(confidence_width > 0) "
        "FROM genome.creative_element_scores WHERE brand_id = %s GROUP BY element_dimension",
        (b,),
    ).fetchall()
    for dim, total, widths in dims:
        assert total == pytest.approx(1.0, abs=1e-6), dim
        assert widths, dim
    win = dict(
        db.execute(
            "SELECT element_value, win_probability FROM genome.creative_element_scores "
            "WHERE brand_id = %s AND element_dimension = 'hook_type'",
            (b,),
        ).fetchall()
    )
    # Authority ~ Beta(31, 1) against k unseen values ~ Beta(1, 1): P(win) = 31 / (31 + k).
    k = len(win) - 2
    assert win["authority"] == pytest.approx(31 / (31 + k), abs=0.02)
    assert win["story"] < 0.001


def test_combos_step(db: psycopg.Connection) -> None:
    tags = {"hook_type": "authority", "color_mode": "brand", "belief_angle": "identity"}
    b, _ = _brand_with_rewards(
        db, [(tags, 0.9)] * 3 + [({"hook_type": "authority", "color_mode": "brand"}, 0.1)]
    )
    stale = _brand_with_rewards(db, [(tags, 0.9)] * 3)[0]
    db.execute("SELECT genome._update_scores_combos(%s, %s)", (T0 + DAY, VERSION - 1))
    db.execute("DELETE FROM genome.creative_element_rewards WHERE brand_id = %s", (stale,))
    written = db.execute(
        "SELECT genome._update_scores_combos(%s, %s)", (T0 + DAY, VERSION)
    ).fetchone()[0]
    combos = db.execute(
        "SELECT brand_id, combo_key, alpha, beta, n_rewards, genome_version "
        "FROM genome.element_combo_scores ORDER BY combo_key"
    ).fetchall()
    assert written == 4  # 3 pairs + 1 triple of the brand with evidence
    # The other brand's combos were of the previous version: deleted.
    assert {c[0] for c in combos} == {b}
    by_key = {c[1]: c[2:] for c in combos}
    assert by_key["color_mode=brand|hook_type=authority"] == (4.0, 2.0, 4, VERSION)
    assert by_key["belief_angle=identity|color_mode=brand|hook_type=authority"] == (
        4.0,
        1.0,
        3,
        VERSION,
    )
    # Matured after p_now: no combos.
    assert (
        db.execute(
            "SELECT genome._update_scores_combos(%s, %s)", (T0 - DAY, VERSION + 1)
        ).fetchone()[0]
        == 0
    )


def test_combos_step_equals_counting_each_rewards_pairs_and_triples(db: psycopg.Connection) -> None:
    """The step counts every brand's combos in one grouped pass (docs/learning.md#combos): the
    same rows as counting each reward's pairs and triples of element tags one by one,
    including rewards without some dimensions, a value the registry does not know (written
    past normalize_tags), context tags (not combined) and rewards not matured yet."""
    hooks = ("authority", "story", "problem_solution")
    colors = ("brand", "original", "complementary")
    angles = ("identity", "aspiration")
    items = []
    for i in range(60):
        tags = {"hook_type": hooks[i % 3], "color_mode": colors[(i // 3) % 3]}
        if i % 4:
            tags["belief_angle"] = angles[(i // 9) % 2]
        items.append((tags, ((i * 37) % 100) / 100.0))
    b, _ = _brand_with_rewards(db, items)
    other, _ = _brand_with_rewards(db, items[:20])
    rewards = "SELECT id FROM genome.creative_element_rewards WHERE brand_id = %s ORDER BY id"
    ids = [r[0] for r in db.execute(rewards, (b,)).fetchall()]
    for n, patch in enumerate(
        [
            {"hook_type": "unregistered"},
            {"awareness_stage": "problem_aware", "audience_type": "broad"},
        ]
    ):
        db.execute(
            "UPDATE genome.creative_element_rewards SET element_tags = element_tags || %s "
            "WHERE id = ANY(%s)",
            (Jsonb(patch), ids[n * 5 : n * 5 + 5]),
        )
    db.execute(
        "UPDATE genome.creative_element_rewards SET matured_at = %s WHERE id = ANY(%s)",
        (T0 + 5 * DAY, ids[-3:]),
    )
    db.execute("UPDATE genome.settings SET value = '2' WHERE key = 'combo_min_n'")
    threshold = db.execute("SELECT genome._setting_num('success_threshold')").fetchone()[0]
    element = {
        r[0]
        for r in db.execute(
            "SELECT dimension FROM genome.element_dimensions WHERE kind = 'element'"
        )
    }
    expected: dict[tuple, list] = {}
    for brand, tags, score, matured in db.execute(
        "SELECT brand_id, element_tags, reward_score, matured_at FROM genome.creative_element_rewards"
    ).fetchall():
        if matured > T0 + DAY:
            continue
        own = sorted((d, v) for d, v in tags.items() if d in element)
        for size in (2, 3):
            for combo in itertools.combinations(own, size):
                key = "|".join(f"{d}={v}" for d, v in combo)
                e = expected.setdefault((brand, key), [0, 0, [], combo])
                e[0] += score >= threshold
                e[1] += 1
                e[2].append(score)
    expected = {k: v for k, v in expected.items() if v[1] >= 2}
    written = db.execute(
        "SELECT genome._update_scores_combos(%s, %s)", (T0 + DAY, VERSION)
    ).fetchone()[0]
    rows = {
        (r[0], r[1]): r[2:]
        for r in db.execute(
            "SELECT brand_id, combo_key, dimensions, element_values, alpha, beta, n_rewards, "
            "mean_reward FROM genome.element_combo_scores"
        ).fetchall()
    }
    assert written == len(rows) == len(expected) and rows.keys() == expected.keys()
    assert {k[0] for k in rows} == {b, other}
    for k, (successes, n, scores, combo) in expected.items():
        dims, vals, alpha, beta, n_rewards, mean = rows[k]
        assert (dims, vals) == ([d for d, _ in combo], [v for _, v in combo])
        assert (alpha, beta, n_rewards) == (1.0 + successes, 1.0 + n - successes, n)
        assert mean == pytest.approx(sum(scores) / n, rel=1e-12)
    # The unregistered value is a value of its own; context tags are in no combo.
    assert any("unregistered" in r[1] for r in rows.values())
    assert not any({"awareness_stage", "audience_type"} & set(r[0]) for r in rows.values())
