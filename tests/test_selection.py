"""genome.select_elements: Thompson sampling on a planted truth, exploration schedule,
propensities, reproducibility, bad input."""

from __future__ import annotations

import datetime as dt
import math

import psycopg
import pytest

from sim import factories as f

T0 = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=60)


def _draws(db: psycopg.Connection, brand, n: int, start: int = 1) -> list[dict]:
    return [
        r[0]
        for r in db.execute(
            "SELECT genome.select_elements(%s, NULL, %s, s) FROM generate_series(%s::bigint, %s::bigint) AS s",
            (brand, NOW, start, start + n - 1),
        )
    ]


def _planted(db: psycopg.Connection, matured: int, planned: int = 1000):
    """A brand whose 'authority' hook always wins and every other hook always loses."""
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    hooks = [
        r[0]
        for r in db.execute(
            "SELECT value FROM genome.element_values WHERE dimension = 'hook_type' ORDER BY value"
        )
    ]
    items = [
        ({"hook_type": hooks[i % len(hooks)]}, 0.9 if hooks[i % len(hooks)] == "authority" else 0.1)
        for i in range(matured)
    ]
    if items:
        f.bulk_rewards(db, run, items, T0)
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    db.execute("UPDATE genome.genome_state SET planned_ads = %s WHERE brand_id = %s", (planned, b))
    return b


def _within_binomial(observed: int, n: int, p: float, z: float = 4.0) -> bool:
    return abs(observed - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


def test_planted_truth_value_is_chosen_most_of_the_time(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    b = _planted(db, matured=600)
    draws = _draws(db, b, 2000)
    chosen = sum(d["element_tags"]["hook_type"] == "authority" for d in draws)
    rate = draws[0]["exploration_rate"]
    assert rate == pytest.approx(max(0.05, 0.30 * math.exp(-600 / 100)))
    # P(choose authority) = e/15 + (1-e) * P(authority wins the draw) ~ 0.95.
    assert chosen / 2000 > 0.9
    props = {
        d["propensities"]["hook_type"]
        for d in draws
        if d["element_tags"]["hook_type"] == "authority"
    }
    assert len(props) == 1
    assert _within_binomial(chosen, 2000, props.pop())


@pytest.mark.parametrize(
    ("matured", "planned", "learner", "expected"),
    [
        (0, 1000, "beta_bernoulli", 0.30),
        (100, 1000, "beta_bernoulli", 0.30 * math.exp(-1)),
        # The floor: exploration_floor for the one-bit learner, learner_exploration_floor (0)
        # for the joint learner, whose Thompson draws explore by themselves.
        (500, 1000, "beta_bernoulli", 0.05),
        # The start: learner_exploration_start (0) for the joint learner.
        (0, 1000, "joint_logistic", 0.0),
        (100, 1000, "joint_logistic", 0.0),
        (500, 10, "joint_logistic", 0.30),  # the first 30 ads of a brand are explored at 30%
        (500, 10, "beta_bernoulli", 0.30),
    ],
)
def test_exploration_follows_the_schedule(
    db: psycopg.Connection, matured, planned, learner, expected
) -> None:
    db.execute(
        "UPDATE genome.settings SET value = to_jsonb(%s::text) WHERE key = 'learner'", (learner,)
    )
    assert db.execute("SELECT genome.exploration_rate(%s, %s)", (matured, planned)).fetchone()[
        0
    ] == pytest.approx(expected)
    b = _planted(db, matured=matured, planned=planned)
    draws = _draws(db, b, 1500)
    assert draws[0]["exploration_rate"] == pytest.approx(expected)
    explored = sum(d["exploratory"]["hook_type"] for d in draws)
    assert _within_binomial(explored, 1500, expected)
    # Across all five element dimensions too.
    all_dims = sum(sum(d["exploratory"].values()) for d in draws)
    assert _within_binomial(all_dims, 1500 * 5, expected)


def test_each_learner_reads_its_own_exploration_start(db: psycopg.Connection) -> None:
    db.execute("UPDATE genome.settings SET value = '0.2' WHERE key = 'learner_exploration_start'")
    db.execute("UPDATE genome.settings SET value = '0.4' WHERE key = 'exploration_start'")
    rate = "SELECT genome.exploration_rate(100, 1000)"
    assert db.execute(rate).fetchone()[0] == pytest.approx(0.2 * math.exp(-1))
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    assert db.execute(rate).fetchone()[0] == pytest.approx(0.4 * math.exp(-1))


@pytest.mark.parametrize(
    ("learner", "missing"),
    [
        ("joint_logistic", "learner_exploration_floor"),
        ("beta_bernoulli", "exploration_start"),
        ("joint_logistic", "forced_exploration_rate"),
        (None, "learner"),
    ],
)
def test_a_missing_exploration_setting_is_gn090_naming_it(
    db: psycopg.Connection, learner: str | None, missing: str
) -> None:
    # The exploration settings are read in one query; a missing one (only the learner's own
    # floor and start are needed) still raises the settings reader's GN090.
    b = f.brand(db)
    if learner:
        db.execute(
            "UPDATE genome.settings SET value = to_jsonb(%s::text) WHERE key = 'learner'",
            (learner,),
        )
    if learner:
        # The other learner's floor is not read: its absence changes nothing.
        other = "exploration_floor" if learner == "joint_logistic" else "learner_exploration_floor"
        db.execute("DELETE FROM genome.settings WHERE key = %s", (other,))
    assert db.execute("SELECT genome.select_elements(%s, NULL, %s)", (b, NOW)).fetchone()[0]
    db.execute("DELETE FROM genome.settings WHERE key = %s", (missing,))
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.select_elements(%s, NULL, %s)", (b, NOW))
    assert err.value.sqlstate == "GN090" and missing in str(err.value)


def test_propensity_is_exploration_plus_stored_win_probability(db: psycopg.Connection) -> None:
    b = _planted(db, matured=120)
    win = dict(
        db.execute(
            "SELECT element_value, win_probability FROM genome.creative_element_scores "
            "WHERE brand_id = %s AND product_id IS NULL AND element_dimension = 'hook_type'",
            (b,),
        ).fetchall()
    )
    for d in _draws(db, b, 50):
        e = d["exploration_rate"]
        chosen = d["element_tags"]["hook_type"]
        assert d["propensities"]["hook_type"] == pytest.approx(
            e / 15 + (1 - e) * win[chosen], abs=1e-6
        )


def test_empirical_choice_frequencies_match_propensities(db: psycopg.Connection) -> None:
    b = _planted(db, matured=60)
    draws = _draws(db, b, 3000)
    by_value: dict[str, list] = {}
    for d in draws:
        by_value.setdefault(d["element_tags"]["color_mode"], []).append(
            d["propensities"]["color_mode"]
        )
    for value, props in by_value.items():
        assert _within_binomial(len(props), 3000, props[0]), value


def test_no_scores_yet_means_uniform(db: psycopg.Connection) -> None:
    b = f.brand(db)
    d = _draws(db, b, 1)[0]
    assert d["genome_version"] == 0 and d["cold_start_level"] == 0
    assert d["propensities"]["hook_type"] == pytest.approx(1 / 15, abs=1e-6)
    assert d["propensities"]["color_mode"] == pytest.approx(1 / 3, abs=1e-6)
    assert set(d["element_tags"]) == {
        "hook_type",
        "belief_angle",
        "template_category",
        "visual_style",
        "color_mode",
    }


def test_seed_reproduces_and_fixed_dimensions_are_forced(db: psycopg.Connection) -> None:
    b = _planted(db, matured=60)
    a1 = db.execute("SELECT genome.select_elements(%s, NULL, %s, 7)", (b, NOW)).fetchone()[0]
    a2 = db.execute("SELECT genome.select_elements(%s, NULL, %s, 7)", (b, NOW)).fetchone()[0]
    assert a1 == a2
    assert len({str(d["element_tags"]) for d in _draws(db, b, 30)}) > 1
    forced = db.execute(
        'SELECT genome.select_elements(%s, NULL, %s, 7, \'{"hook_type": "fomo"}\')', (b, NOW)
    ).fetchone()[0]
    assert forced["element_tags"]["hook_type"] == "fear_of_missing_out"
    assert forced["propensities"]["hook_type"] == 1.0
    assert forced["fixed"] == ["hook_type"]


@pytest.mark.parametrize(
    ("sql", "state"),
    [
        ("SELECT genome.select_elements(gen_random_uuid())", "GN001"),
        ("SELECT genome.select_elements(NULL)", "GN005"),
        ("SELECT genome.select_elements(%(b)s, gen_random_uuid())", "GN002"),
        ("SELECT genome.select_elements(%(b)s, %(other_product)s)", "GN003"),
        ("SELECT genome.select_elements(%(b)s, NULL, NULL)", "GN004"),
        (
            'SELECT genome.select_elements(%(b)s, NULL, now(), 1, \'{"hook_type": "nope"}\')',
            "GN101",
        ),
        ('SELECT genome.select_elements(%(b)s, NULL, now(), 1, \'{"mood": "happy"}\')', "GN100"),
    ],
)
def test_bad_input_is_refused(db: psycopg.Connection, sql: str, state: str) -> None:
    b = f.brand(db)
    other_product = f.product(db, f.brand(db))
    with pytest.raises(psycopg.Error) as err:
        db.execute(sql, {"b": b, "other_product": other_product})
    assert err.value.sqlstate == state
