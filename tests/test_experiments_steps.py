"""The steps of genome.analyze_experiments, each called on its own (docs/experiments.md)."""

from __future__ import annotations

import psycopg
import pytest

from sim import factories as f
from tests.test_experiments import DAY, T0, _arms, _deliver, _propose


@pytest.fixture
def running(db: psycopg.Connection):
    b = f.brand(db)
    p = f.product(db, b)
    exp = _propose(db, b, p)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    _deliver(db, exp, 3, [(3000, 0.012), (3000, 0.018)])
    # A proposal never started is not analysed.
    _propose(db, b, p, treatments=["authority"])
    return exp


def test_arm_data_step(db: psycopg.Connection, running) -> None:
    rows = db.execute(
        "SELECT rn, grp, experiment_id, arm_index, test_variable_value, data_source, days_elapsed, "
        "impressions, clicks, trials, successes FROM genome._analyze_experiments_arm_data(%s) "
        "ORDER BY rn",
        (T0 + 3 * DAY,),
    ).fetchall()
    # link_ctr counts impressions as trials and clicks as successes, through yesterday
    # (data_lag_days 1): three days of 3,000 impressions.
    assert rows == [
        (1, 1, running, 0, "curiosity_gap", "performance", 3, 9000, 108, 9000, 108),
        (2, 1, running, 1, "social_proof", "performance", 3, 9000, 162, 9000, 162),
    ]
    # The step reads; it writes nothing.
    assert db.execute("SELECT count(*) FROM genome.experiment_analyses").fetchone()[0] == 0
    arm_ids = [a[0] for a in _arms(db, running)]
    assert (
        db.execute(
            "SELECT count(*) FROM genome.experiment_arms WHERE id = ANY(%s) AND total_impressions > 0",
            (arm_ids,),
        ).fetchone()[0]
        == 0
    )


def test_decisions_step(db: psycopg.Connection, running) -> None:
    query = (
        "SELECT arm_index, trials, successes, posterior_mean, prob_best, decision, recommendation "
        "FROM genome._analyze_experiments_decisions(%s) ORDER BY rn"
    )
    rows = db.execute(query, (T0 + 3 * DAY,)).fetchall()
    assert [r[:3] for r in rows] == [(0, 9000, 108), (1, 9000, 162)]
    control, treatment = rows
    # One decision per experiment; the better arm is more likely best.
    assert control[5] == treatment[5]
    assert treatment[3] > control[3]
    assert control[4] + treatment[4] == pytest.approx(1.0, abs=1e-9)
    assert treatment[4] > control[4]
    # Monte Carlo draws seeded by the day: a re-run of the day decides the same.
    assert db.execute(query, (T0 + 3 * DAY + DAY / 4,)).fetchall() == rows
    # analyze_experiments writes exactly these decisions.
    db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 3 * DAY,))
    written = db.execute(
        "SELECT arm_index, prob_best, recommendation FROM genome.experiment_arms "
        "WHERE experiment_id = %s ORDER BY arm_index",
        (running,),
    ).fetchall()
    assert [(a, float(p), r) for a, p, r in written] == [
        (r[0], pytest.approx(r[4], abs=1e-4), r[6]) for r in rows
    ]
