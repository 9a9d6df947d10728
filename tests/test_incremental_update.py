"""update_scores recomputes only the brands whose inputs changed (docs/learning.md#incremental-update),
and gives the same result as the full rebuild (update_scores(p_now, true)) on the same data."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from sim import factories as f

T0 = dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
HOOKS = ("authority", "story", "problem_solution")
COLORS = ("brand", "original", "complementary")


def _items(seed: int, n: int) -> list[tuple[dict[str, str], float]]:
    # Deterministic varied tags and scores: every brand's data differ.
    return [
        (
            {"hook_type": HOOKS[(i * 7 + seed) % 3], "color_mode": COLORS[(i * 5 + 2 * seed) % 3]},
            ((i * 37 + seed * 11) % 100) / 100.0,
        )
        for i in range(n)
    ]


def _brand(db, seed: int, n: int, *, category=None, sharing=False) -> tuple[object, object]:
    b = f.brand(db, category=category, sharing=sharing)
    run = f.ad_run(db, f.product(db, b))
    _rewards(db, run, seed, n, T0)
    return b, run


def _rewards(db, run, seed: int, n: int, at: dt.datetime) -> None:
    ads = f.bulk_rewards(db, run, _items(seed, n), at)
    # Clicks vary per ad, so the joint learner has something to fit (an UPDATE: the
    # rewards' update trigger marks the brand too).
    db.execute(
        "UPDATE genome.creative_element_rewards SET total_clicks = 5 + (get_byte(uuid_send(generated_ad_id), 0) %% 40) "
        "WHERE generated_ad_id = ANY(%s)",
        (ads,),
    )


def _versions(db) -> dict:
    return dict(db.execute("SELECT brand_id, genome_version FROM genome.genome_state").fetchall())


SNAPSHOT = {
    "scores": (
        "SELECT brand_id, product_id, element_dimension, element_value, alpha, beta, prior_alpha, "
        "prior_beta, posterior_alpha, posterior_beta, n_rewards, mean_reward, cold_start_level, "
        "confidence_width, win_probability FROM genome.creative_element_scores",
        4,
    ),
    "state": (
        "SELECT brand_id, cold_start_level, matured_ads, first_reward_at, brand_weight "
        "FROM genome.genome_state",
        1,
    ),
    "priors": (
        "SELECT brand_id, element_dimension, element_value, prior_alpha, prior_beta, peer_brands, "
        "shrinkage FROM genome.brand_priors",
        3,
    ),
    "posteriors": (
        "SELECT brand_id, stage, parameters, posterior_mean, dispersion, n_ads "
        "FROM genome.learner_posteriors",
        2,
    ),
    "combos": (
        "SELECT brand_id, combo_key, alpha, beta, n_rewards FROM genome.element_combo_scores",
        2,
    ),
    "selection": (
        "SELECT brand_id, product_id, dimensions, element_values, p_win FROM genome.selection_tables",
        2,
    ),
}


def _snapshot(db) -> dict[str, dict]:
    out = {}
    for name, (query, key) in SNAPSHOT.items():
        out[name] = {tuple(r[:key]): r[key:] for r in db.execute(query).fetchall()}
    return out


def _same(a, b, *, mc: bool = False) -> bool:
    """Equal values; floats to 1e-9 (relative); win probabilities, drawn afresh under each
    genome version, to 0.1 (two full rebuilds of these data differ by up to 0.03: the joint
    draws are rescaled to each value's mean by their own heavy-tailed sample mean)."""
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, mc=mc) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= (0.1 if mc else 1e-9 * max(1.0, abs(a)))
    return a == b


def _assert_same(inc: dict, full: dict) -> None:
    for name in SNAPSHOT:
        assert inc[name].keys() == full[name].keys(), name
        for k, row in inc[name].items():
            other = full[name][k]
            if name == "scores":
                assert _same(row[:-1], other[:-1]), (name, k, row, other)
                assert _same(row[-1], other[-1], mc=True), (name, k, row, other)
            elif name == "selection":
                assert _same(row[:-1], other[:-1]) and _same(row[-1], other[-1], mc=True), k
            else:
                assert _same(row, other), (name, k, row, other)


def test_incremental_update_recomputes_the_changed_brands_only_and_equals_the_full_rebuild(
    db: psycopg.Connection,
) -> None:
    db.execute(
        "UPDATE genome.settings SET value = '1' WHERE key IN "
        "('prior_min_peer_brands', 'prior_min_peer_organizations')"
    )
    a, run_a = _brand(db, 1, 40, category="c", sharing=True)
    b, _ = _brand(db, 2, 30, category="c", sharing=True)
    c, _ = _brand(db, 3, 30, category="c", sharing=False)
    d, _ = _brand(db, 4, 30)
    e, run_e = _brand(db, 5, 20)
    db.execute("SELECT genome.update_scores(%s, true)", (T0 + DAY,))
    v1 = _versions(db)
    tables_before = db.execute(
        "SELECT brand_id, p_win FROM genome.selection_tables WHERE brand_id = %s", (d,)
    ).fetchall()
    assert tables_before

    # Nothing changed: nothing is recomputed.
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY + HOUR,))
    assert _versions(db) == v1

    # New rewards for A (an opted-in brand of category c), a revised reward of E, a setting
    # nothing reads per brand left alone.
    _rewards(db, run_a, 6, 200, T0 + DAY + HOUR)
    db.execute(
        "UPDATE genome.creative_element_rewards SET reward_score = 0.99 "
        "WHERE generated_ad_id = (SELECT g.id FROM generated_ads AS g WHERE g.ad_run_id = %s "
        "ORDER BY g.id LIMIT 1)",
        (run_e,),
    )
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY + 2 * HOUR,))
    v2 = _versions(db)
    # A and E recomputed; B too (its category prior reads A's evidence, and 200 more
    # rewards move the rounded counts); C (not opted in) and D untouched, D's stored draw
    # table kept.
    assert v2[a] > v1[a] and v2[e] > v1[e] and v2[b] > v1[b]
    assert v2[c] == v1[c] and v2[d] == v1[d]
    assert (
        db.execute(
            "SELECT brand_id, p_win FROM genome.selection_tables WHERE brand_id = %s", (d,)
        ).fetchall()
        == tables_before
    )
    incremental = _snapshot(db)

    db.execute("SELECT genome.update_scores(%s, true)", (T0 + DAY + 2 * HOUR,))
    full = _snapshot(db)
    assert len(incremental["scores"]) > 100 and incremental["priors"] and incremental["posteriors"]
    _assert_same(incremental, full)


def test_time_and_global_inputs_make_brands_due(db: psycopg.Connection) -> None:
    # Which brands are due does not depend on the learner: the one-bit learner is quicker.
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    b, run = _brand(db, 1, 20)
    other, _ = _brand(db, 2, 20)
    db.execute("SELECT genome.update_scores(%s)", (T0 + DAY,))
    # A reward that matures later: not counted now, counted once it has matured, with no
    # other write in between.
    _rewards(db, run, 3, 10, T0 + 3 * DAY)
    db.execute("SELECT genome.update_scores(%s)", (T0 + 2 * DAY,))
    n = "SELECT matured_ads FROM genome.genome_state WHERE brand_id = %s"
    assert db.execute(n, (b,)).fetchone()[0] == 20
    v = _versions(db)
    db.execute("SELECT genome.update_scores(%s)", (T0 + 3 * DAY + HOUR,))
    assert db.execute(n, (b,)).fetchone()[0] == 30
    v3 = _versions(db)
    assert v3[b] > v[b] and v3[other] == v[other]
    # The cold-start level changes with time alone (level2_days after the first reward).
    db.execute("SELECT genome.update_scores(%s)", (T0 + 15 * DAY,))
    levels = dict(db.execute("SELECT brand_id, cold_start_level FROM genome.genome_state"))
    assert levels == {b: 2, other: 2}
    # A setting every brand reads: every brand is recomputed.
    v = _versions(db)
    db.execute("UPDATE genome.settings SET value = '0.6' WHERE key = 'success_threshold'")
    db.execute("SELECT genome.update_scores(%s)", (T0 + 15 * DAY + HOUR,))
    v4 = _versions(db)
    assert v4[b] > v[b] and v4[other] > v[other]
    # An earlier p_now than the brand's last update: recomputed (its scores hold more).
    db.execute("SELECT genome.update_scores(%s)", (T0 + 2 * DAY,))
    assert db.execute(n, (b,)).fetchone()[0] == 20


def test_refresh_setting_checked(db: psycopg.Connection) -> None:
    db.execute("UPDATE genome.settings SET value = '0' WHERE key = 'learning_refresh_days'")
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.update_scores(%s)", (T0,))
    assert err.value.sqlstate == "GN090"
