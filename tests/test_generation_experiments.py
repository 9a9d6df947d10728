"""Generation A/B tests (docs/experiments.md#generation-ab-tests): start, deterministic odd/even
assignment, the Mann-Whitney U helper and the run-level analysis with alpha spending, checked
against scipy and statsmodels."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb
from scipy import stats
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind

from sim import factories as f
from tests.support import monitoring as ms

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CONTROL = {"prompt_template_version": "v2.0"}
VARIANT = {"prompt_template_version": "v2.1"}


def _mwu(db: psycopg.Connection, x, y):
    return db.execute(
        "SELECT n_x, n_y, u_x, u_y, z, p_value FROM genome._mann_whitney_u(%s::float8[], %s::float8[])",
        ([float(v) for v in x], [float(v) for v in y]),
    ).fetchone()


SAMPLES = [
    ("continuous", lambda r: (r.normal(0, 1, 23), r.normal(0.4, 1.3, 31))),
    ("continuous-small", lambda r: (r.normal(0, 1, 5), r.normal(1, 1, 4))),
    ("integer-ties", lambda r: (r.integers(0, 6, 40), r.integers(1, 7, 35))),
    ("binary", lambda r: (r.binomial(1, 0.55, 60), r.binomial(1, 0.7, 48))),
    ("rounded-rewards", lambda r: (np.round(r.beta(2, 3, 50), 1), np.round(r.beta(3, 2, 45), 1))),
    ("one-each", lambda r: (r.normal(0, 1, 1), r.normal(0, 1, 1))),
]


@pytest.mark.parametrize(("name", "draw"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_mann_whitney_matches_scipy(db: psycopg.Connection, name: str, draw) -> None:
    for seed in range(1, 6):
        x, y = draw(np.random.default_rng(seed))
        n_x, n_y, u_x, u_y, _, p = _mwu(db, x, y)
        ref = stats.mannwhitneyu(
            x, y, alternative="two-sided", method="asymptotic", use_continuity=True
        )
        assert (n_x, n_y) == (len(x), len(y))
        assert u_x == pytest.approx(float(ref.statistic), abs=1e-9)
        assert u_x + u_y == pytest.approx(len(x) * len(y), abs=1e-9)
        assert p == pytest.approx(float(ref.pvalue), abs=1e-9, rel=1e-9), (name, seed)


def test_mann_whitney_edge_cases(db: psycopg.Connection) -> None:
    # All values tied: no evidence (scipy also gives p = 1).
    assert _mwu(db, [1, 1, 1], [1, 1])[5] == 1.0
    assert stats.mannwhitneyu([1, 1, 1], [1, 1], method="asymptotic").pvalue == 1.0
    # An empty sample: no test.
    assert _mwu(db, [], [1, 2]) == (0, 2, None, None, None, None)
    for bad in (
        "ARRAY[1, 'NaN']::float8[]",
        "ARRAY[1, NULL]::float8[]",
        "ARRAY['infinity']::float8[]",
    ):
        with pytest.raises(psycopg.Error) as err:
            db.execute(f"SELECT * FROM genome._mann_whitney_u({bad}, ARRAY[1.0]::float8[])")
        assert err.value.sqlstate == "GN030"


def _start(db: psycopg.Connection, brand, **kw):
    args = {
        "name": "prompt v2.1",
        "type": "prompt_version",
        "control": CONTROL,
        "variant": VARIANT,
        "min_n": 20,
        "now": NOW,
    } | kw
    return db.execute(
        "SELECT genome.start_generation_experiment(%s, %s, %s, %s, %s, %s, %s)",
        (
            brand,
            args["name"],
            args["type"],
            None if args["control"] is None else Jsonb(args["control"]),
            None if args["variant"] is None else Jsonb(args["variant"]),
            args["min_n"],
            args["now"],
        ),
    ).fetchone()[0]


def _assign(db: psycopg.Connection, run):
    return db.execute("SELECT genome._generation_assignment(%s)", (run,)).fetchone()[0]


def test_start_records_an_active_experiment(db: psycopg.Connection) -> None:
    b = f.brand(db)
    exp = _start(db, b, min_n=7)
    row = db.execute(
        "SELECT e.organization_id = br.organization_id, e.status, e.experiment_type, "
        "e.control_config, e.variant_config, e.split_ratio, e.min_sample_size, e.created_at "
        "FROM genome.generation_experiments AS e JOIN brands AS br ON br.id = e.brand_id "
        "WHERE e.id = %s",
        (exp,),
    ).fetchone()
    assert row[:5] == (True, "active", "prompt_version", CONTROL, VARIANT)
    assert float(row[5]) == 0.5 and row[6] == 7 and row[7] == NOW


def test_start_rejects_bad_input_and_writes_nothing(db: psycopg.Connection) -> None:
    b = f.brand(db)
    cases = [
        ({"name": " "}, "GN811"),
        ({"name": None}, "GN811"),
        ({"type": "colour"}, "GN812"),
        ({"type": None}, "GN812"),
        ({"control": {}}, "GN813"),
        ({"variant": None}, "GN813"),
        ({"control": ["v2"]}, "GN813"),
        ({"variant": CONTROL}, "GN813"),
        ({"min_n": 0}, "GN814"),
        ({"min_n": None}, "GN814"),
        ({"now": None}, "GN004"),
    ]
    for kw, code in cases:
        with pytest.raises(psycopg.Error) as err:
            _start(db, b, **kw)
        assert err.value.sqlstate == code, kw
    with pytest.raises(psycopg.Error) as err:
        _start(db, None)
    assert err.value.sqlstate == "GN005"
    assert db.execute("SELECT count(*) FROM genome.generation_experiments").fetchone()[0] == 0
    _start(db, b)
    with pytest.raises(psycopg.Error) as err:
        _start(db, b, name="another")
    assert err.value.sqlstate == "GN815"
    assert db.execute("SELECT count(*) FROM genome.generation_experiments").fetchone()[0] == 1


def test_assignment_alternates_is_idempotent_and_recorded(db: psycopg.Connection) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    before = f.ad_run(db, p)
    assert _assign(db, before) is None
    assert db.execute(
        "SELECT experiment_id, experiment_group FROM ad_runs WHERE id = %s", (before,)
    ).fetchone() == (None, None)

    exp = _start(db, b)
    other = f.brand(db)
    other_run = f.ad_run(db, f.product(db, other))
    runs = [f.ad_run(db, p) for _ in range(20)]
    first = [_assign(db, r) for r in runs]
    assert [a["group"] for a in first] == ["control", "variant"] * 10
    assert [a["sequence"] for a in first] == list(range(1, 21))
    assert all(a["experiment_id"] == str(exp) for a in first)
    assert [a["config"] for a in first] == [CONTROL, VARIANT] * 10
    # Asked again (in any order): the same arm, nothing new recorded.
    again = [_assign(db, r) for r in reversed(runs)]
    assert [a["group"] for a in reversed(again)] == ["control", "variant"] * 10
    assert [a["config"] for a in reversed(again)] == [CONTROL, VARIANT] * 10
    recorded = db.execute(
        "SELECT experiment_group, count(*) FROM ad_runs WHERE experiment_id = %s GROUP BY 1 ORDER BY 1",
        (exp,),
    ).fetchall()
    assert recorded == [("control", 10), ("variant", 10)]
    assert _assign(db, other_run) is None

    # A run assigned before the experiment completed keeps its arm afterwards.
    db.execute(
        "UPDATE genome.generation_experiments SET status = 'completed' WHERE id = %s", (exp,)
    )
    assert _assign(db, runs[1])["group"] == "variant"
    assert _assign(db, f.ad_run(db, p)) is None


def test_assignment_is_deterministic_across_replays(db: psycopg.Connection) -> None:
    groups = []
    for _ in range(2):
        b = f.brand(db)
        p = f.product(db, b)
        _start(db, b)
        groups.append([_assign(db, f.ad_run(db, p))["group"] for _ in range(9)])
    assert groups[0] == groups[1] == ["control", "variant"] * 4 + ["control"]


def test_assignment_rejects_unknown_runs(db: psycopg.Connection) -> None:
    for run, code in ((None, "GN005"), ("00000000-0000-0000-0000-000000000001", "GN010")):
        with pytest.raises(psycopg.Error) as err:
            _assign(db, run)
        assert err.value.sqlstate == code


def test_concurrent_assignment_stays_balanced(db: psycopg.Connection, db_dsn: str) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    exp = _start(db, b)
    runs = [f.ad_run(db, p) for _ in range(24)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(chunk) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as conn:
                barrier.wait()
                for r in chunk:
                    conn.execute("SELECT genome._generation_assignment(%s)", (r,))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(runs[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = db.execute(
        "SELECT experiment_group, count(*) FROM ad_runs WHERE experiment_id = %s GROUP BY 1 ORDER BY 1",
        (exp,),
    ).fetchall()
    assert counts == [("control", 12), ("variant", 12)]


def _arm_data(db, brand, product, n_runs: int, per_run: int, rewards_by_arm, statuses_by_arm):
    """n_runs assigned runs, per_run ads each; rewards / statuses drawn per arm. Returns the
    ad-level values and the per-run means (the units of the test) by arm."""
    out = {"control": [], "variant": []}
    approvals = {"control": [], "variant": []}
    run_rewards = {"control": [], "variant": []}
    run_approvals = {"control": [], "variant": []}
    for _ in range(n_runs):
        run = f.ad_run(db, product)
        arm = _assign(db, run)["group"]
        statuses = statuses_by_arm[arm](per_run)
        ids = ms.ads(db, run, statuses, decided_at=NOW + DAY)
        scores = rewards_by_arm[arm](per_run)
        ms.rewards(db, ids, list(scores), matured_at=NOW + 10 * DAY)
        out[arm] += list(scores)
        appr = [1.0 if s == "approved" else 0.0 for s in statuses]
        approvals[arm] += appr
        run_rewards[arm].append(float(np.mean(scores)))
        run_approvals[arm].append(float(np.mean(appr)))
    return out, approvals, run_rewards, run_approvals


def _experiment(db, exp):
    return db.execute(
        "SELECT status, winner, confidence, completed_at, control_metrics, variant_metrics "
        "FROM genome.generation_experiments WHERE id = %s",
        (exp,),
    ).fetchone()


def _look(db, exp, day):
    return db.execute(
        "SELECT decision, decision_metric, tests FROM genome.generation_experiment_analyses "
        "WHERE experiment_id = %s AND analysis_date = %s",
        (exp, (NOW + day * DAY).date()),
    ).fetchone()


def _welch(x, y):
    """scipy's and statsmodels' Welch t test of x against y: (t, df, p)."""
    ref = stats.ttest_ind(x, y, equal_var=False)
    t_sm, p_sm, df_sm = sm_ttest_ind(x, y, usevar="unequal")
    assert t_sm == pytest.approx(ref.statistic, rel=1e-12)
    assert p_sm == pytest.approx(ref.pvalue, rel=1e-9)
    return float(ref.statistic), float(df_sm), float(ref.pvalue)


def test_analysis_takes_runs_as_units_and_spends_alpha(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(15)
    b = f.brand(db)
    p = f.product(db, b)
    exp = _start(db, b, min_n=20)
    rewards = {
        "control": lambda k: np.round(rng.beta(2, 4, k), 3),
        "variant": lambda k: np.round(rng.beta(4, 2, k), 3),
    }
    statuses = {
        "control": lambda k: list(rng.choice(["approved", "rejected", "flagged"], k)),
        "variant": lambda k: list(rng.choice(["approved", "rejected"], k)),
    }
    # 4 runs x 4 ads: 2 runs and 8 rewards per arm, below min_sample_size and min_runs
    # however clear the difference: no test, no alpha spent.
    got, approvals, rr, ra = _arm_data(db, b, p, 4, 4, rewards, statuses)
    assert (
        db.execute(
            "SELECT genome.analyze_generation_experiments(%s)", (NOW + 11 * DAY,)
        ).fetchone()[0]
        == 1
    )
    status, winner, confidence, completed, cm, vm = _experiment(db, exp)
    t, df, pv = _welch(rr["variant"], rr["control"])
    assert (status, winner, completed) == ("active", None, None)
    assert float(confidence) == pytest.approx(round(1 - pv, 3), abs=1e-12)
    assert cm["matured_rewards"] == vm["matured_rewards"] == 8 and cm["runs"] == vm["runs"] == 2
    assert vm["mean_reward"] == pytest.approx(np.mean(got["variant"]), abs=1e-12)
    assert cm["approval_rate"] == pytest.approx(np.mean(approvals["control"]), abs=1e-12)
    decision, metric, tests = _look(db, exp, 11)
    assert (decision, metric, tests["tested"], tests["level"]) == (
        "continue",
        "reward",
        False,
        None,
    )
    assert tests["alpha_spent"] == 0
    assert tests["reward"]["t"] == pytest.approx(t, rel=1e-9)
    assert tests["reward"]["df"] == pytest.approx(df, rel=1e-9)
    assert tests["reward"]["p_value"] == pytest.approx(pv, rel=1e-9)
    _, _, pa = _welch(ra["variant"], ra["control"])
    assert tests["approval_rate"]["p_value"] == pytest.approx(pa, rel=1e-9)
    assert tests["approval_rate"]["mean_variant"] == pytest.approx(np.mean(ra["variant"]))
    # The ad-level Mann-Whitney U stays, as description only.
    ref_ad = stats.mannwhitneyu(got["variant"], got["control"], method="asymptotic")
    assert tests["reward"]["ad_level_p_value"] == pytest.approx(ref_ad.pvalue, abs=1e-9)

    # Nothing is known yet at an earlier p_now (rewards matured later).
    db.execute("SELECT genome.analyze_generation_experiments(%s)", (NOW + 2 * DAY,))
    assert _experiment(db, exp)[4]["matured_rewards"] == 0

    # More runs: past min_sample_size and min_runs per arm; the level of this first tested
    # look is the alpha spent by day 12 (alpha * 12 / 60 with rho 1).
    _, _, rr2, _ = _arm_data(db, b, p, 6, 4, rewards, statuses)
    t2 = NOW + 12 * DAY
    db.execute("SELECT genome.analyze_generation_experiments(%s)", (t2,))
    status, winner, confidence, completed, cm, vm = _experiment(db, exp)
    t, df, pv = _welch(rr["variant"] + rr2["variant"], rr["control"] + rr2["control"])
    decision, _, tests = _look(db, exp, 12)
    assert tests["tested"] is True
    assert tests["level"] == pytest.approx(0.05 * 12 / 60, rel=1e-12)
    assert tests["alpha_spent"] == pytest.approx(0.05 * 12 / 60, rel=1e-12)
    assert tests["reward"]["p_value"] == pytest.approx(pv, rel=1e-9)
    assert pv < 0.01
    assert (status, winner, completed, decision) == ("completed", "variant", t2, "variant")
    assert float(confidence) == pytest.approx(round(1 - pv, 3), abs=1e-12)
    assert cm["matured_rewards"] == vm["matured_rewards"] == 20
    # A completed experiment is no longer analysed, and the brand may start the next.
    assert (
        db.execute("SELECT genome.analyze_generation_experiments(%s)", (t2 + DAY,)).fetchone()[0]
        == 0
    )
    _start(db, b, name="next")


def test_review_rubric_experiments_are_decided_on_approval(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(3)
    b = f.brand(db)
    p = f.product(db, b)
    strict = db.execute(
        "INSERT INTO genome.quality_scoring_config (organization_id, brand_id, version, "
        "check_weights, check_thresholds) SELECT c.organization_id, c.brand_id, 'strict-v1', "
        "c.check_weights, c.check_thresholds FROM genome.quality_scoring_config AS c "
        "JOIN brands AS br ON br.organization_id = c.organization_id AND br.id = %s "
        "WHERE c.is_active RETURNING version",
        (b,),
    ).fetchone()[0]
    exp = _start(
        db,
        b,
        type="review_rubric",
        control={"review_rubric_version": "default-v1"},
        variant={"review_rubric_version": strict},
        min_n=30,
    )
    same = lambda k: np.round(rng.uniform(0, 1, k), 3)  # noqa: E731
    statuses = {
        "control": lambda k: list(rng.choice(["approved", "rejected"], k, p=[0.25, 0.75])),
        "variant": lambda k: list(rng.choice(["approved", "flagged"], k, p=[0.75, 0.25])),
    }
    _, _, _, ra = _arm_data(db, b, p, 8, 8, {"control": same, "variant": same}, statuses)
    db.execute("SELECT genome.analyze_generation_experiments(%s)", (NOW + 11 * DAY,))
    status, winner, confidence, *_ = _experiment(db, exp)
    _, _, pv = _welch(ra["variant"], ra["control"])
    assert pv < 0.05 * 11 / 60
    assert (status, winner) == ("completed", "variant")
    assert float(confidence) == pytest.approx(round(1 - pv, 3), abs=1e-12)
    assert _look(db, exp, 11)[2]["decision_metric"] == "approval_rate"


def test_no_difference_spends_alpha_look_by_look_then_ends_with_no_winner(
    db: psycopg.Connection,
) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    exp = _start(db, b, min_n=5)
    rng = np.random.default_rng(4)
    same = lambda k: np.round(rng.uniform(0.2, 0.8, k), 3)  # noqa: E731
    ok = lambda k: ["approved"] * k  # noqa: E731
    _, _, rr, _ = _arm_data(
        db, b, p, 6, 6, {"control": same, "variant": same}, {"control": ok, "variant": ok}
    )
    _, _, pv = _welch(rr["variant"], rr["control"])
    spent = 0.0
    for day in (11, 18, 25):
        db.execute("SELECT genome.analyze_generation_experiments(%s)", (NOW + day * DAY,))
        status, winner, confidence, *_ = _experiment(db, exp)
        assert (status, winner) == ("active", None)
        assert float(confidence) == pytest.approx(round(1 - pv, 3), abs=1e-12)
        decision, _, tests = _look(db, exp, day)
        assert decision == "continue" and tests["tested"] is True
        # Each look may use only what the spending function added since the last one.
        assert tests["level"] == pytest.approx(0.05 * day / 60 - spent, abs=1e-12)
        spent = tests["alpha_spent"]
        assert spent == pytest.approx(0.05 * day / 60, abs=1e-12)
    # A second look on the same day replaces that day's look: it starts from the alpha spent
    # before that day, not from the replaced look's.
    db.execute("SELECT genome.analyze_generation_experiments(%s)", (NOW + 25.25 * DAY,))
    again = _look(db, exp, 25)[2]
    assert again["level"] == pytest.approx(0.05 * (25.25 - 18) / 60, abs=1e-12)
    assert again["alpha_spent"] == pytest.approx(0.05 * 25.25 / 60, abs=1e-12)
    assert (
        db.execute(
            "SELECT count(*) FROM genome.generation_experiment_analyses WHERE experiment_id = %s",
            (exp,),
        ).fetchone()[0]
        == 3
    )
    end = NOW + 60 * DAY
    db.execute("SELECT genome.analyze_generation_experiments(%s)", (end,))
    assert _experiment(db, exp)[:2] == ("completed", "none")
    assert _experiment(db, exp)[3] == end
    final = _look(db, exp, 60)[2]
    assert final["alpha_spent"] == pytest.approx(0.05, abs=1e-12)
    assert final["level"] == pytest.approx(0.05 * (60 - 25.25) / 60, abs=1e-12)


def test_analysis_bad_inputs(db: psycopg.Connection) -> None:
    b = f.brand(db)
    exp = _start(db, b)
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.analyze_generation_experiments(NULL)")
    assert err.value.sqlstate == "GN004"
    for key, value in [
        ("generation_experiment_alpha", "0"),
        ("generation_experiment_max_days", "0"),
        ("generation_experiment_spending_rho", "0"),
        ("generation_experiment_min_runs", "1"),
        ("generation_experiment_decision_metric", '{"prompt_version": "ctr"}'),
    ]:
        old = db.execute("SELECT value FROM genome.settings WHERE key = %s", (key,)).fetchone()[0]
        db.execute("UPDATE genome.settings SET value = %s WHERE key = %s", (value, key))
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT genome.analyze_generation_experiments(%s)", (NOW,))
        assert err.value.sqlstate == "GN090", key
        db.execute("UPDATE genome.settings SET value = %s WHERE key = %s", (Jsonb(old), key))
    assert _experiment(db, exp)[4] is None
    assert (
        db.execute("SELECT count(*) FROM genome.generation_experiment_analyses").fetchone()[0] == 0
    )
