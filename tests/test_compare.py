"""genome.compare_v1_v2: V1 (backfilled / untagged / imported) against V2 (planned) ads,
intervals checked against scipy and statsmodels on the same numbers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from sim import factories as f
from tests.support import monitoring as ms

# Later than the wall clock, so V1 ads without decided_at (created "now") count as decided.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
DAY = dt.timedelta(days=1)


def _compare(db: psycopg.Connection, brand, at=NOW) -> dict[tuple[str, str], tuple]:
    rows = db.execute("SELECT * FROM genome.compare_v1_v2(%s, %s)", (brand, at)).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def _t_interval(x):
    x = np.asarray(x, dtype=float)
    return stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))


def test_compare_matches_reference_statistics(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(12)
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    data = {"V1": {"status": [], "reward": [], "ctr": [], "roas": []}, "V2": {}}
    data["V2"] = {k: [] for k in data["V1"]}

    def plant(cohort, source, imported, k, p_approve, reward_a, decided_at):
        statuses = list(
            rng.choice(
                ["approved", "rejected", "flagged"], k, p=[p_approve, 1 - p_approve - 0.1, 0.1]
            )
        )
        ids = ms.ads(db, run, statuses, source=source, imported=imported, decided_at=decided_at)
        scores = np.round(rng.beta(reward_a, 3, k), 4)
        ctrs = np.round(rng.uniform(0.005, 0.03, k), 5)
        roases = np.round(rng.gamma(2, 0.8, k), 3)
        ms.rewards(
            db, ids, list(scores), matured_at=NOW - DAY, ctrs=list(ctrs), roases=list(roases)
        )
        if not imported:
            data[cohort]["status"] += statuses
        data[cohort]["reward"] += list(scores)
        data[cohort]["ctr"] += list(ctrs)
        data[cohort]["roas"] += list(roases)

    plant("V1", "backfilled", False, 30, 0.5, 2, None)
    plant("V1", None, False, 12, 0.5, 2, NOW - 3 * DAY)
    plant("V1", "plan", True, 15, 0.5, 2, None)  # imported ads: V1, never reviewed
    plant("V2", "plan", False, 40, 0.7, 3, NOW - 2 * DAY)
    # Not counted: decided / matured after p_now, pending, review_failed, other brands.
    late = ms.ads(db, run, ["approved"] * 5, decided_at=NOW + DAY)
    ms.rewards(db, late, [0.99] * 5, matured_at=NOW + DAY, ctrs=[0.5] * 5, roases=[9.0] * 5)
    ms.ads(db, run, ["pending", "review_failed"], decided_at=NOW - DAY)
    other = ms.ads(
        db, f.ad_run(db, f.product(db, f.brand(db))), ["approved"] * 3, decided_at=NOW - DAY
    )
    ms.rewards(db, other, [0.0] * 3, matured_at=NOW - DAY)

    got = _compare(db, b)
    assert len(got) == 12
    for cohort in ("V1", "V2"):
        statuses = data[cohort]["status"]
        k = sum(s == "approved" for s in statuses)
        n, value, lo, hi, method = got[(cohort, "approval_rate")]
        assert (n, method) == (len(statuses), "wilson")
        assert value == pytest.approx(k / n, abs=1e-12)
        ref = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (lo, hi) == (pytest.approx(ref[0], abs=1e-9), pytest.approx(ref[1], abs=1e-9))
        for metric, key in (("mean_reward", "reward"), ("ctr", "ctr"), ("roas", "roas")):
            x = data[cohort][key]
            n, value, lo, hi, method = got[(cohort, metric)]
            assert (n, method) == (len(x), "t")
            assert value == pytest.approx(np.mean(x), abs=1e-12)
            ref = _t_interval(x)
            assert (lo, hi) == (pytest.approx(ref[0], abs=1e-9), pytest.approx(ref[1], abs=1e-9))
    assert got[("V1", "mean_reward")][0] == 57 and got[("V1", "approval_rate")][0] == 42

    s1, s2 = data["V1"]["status"], data["V2"]["status"]
    k1, k2 = sum(s == "approved" for s in s1), sum(s == "approved" for s in s2)
    n, value, lo, hi, method = got[("V2-V1", "approval_rate")]
    ref = confint_proportions_2indep(k2, len(s2), k1, len(s1), method="newcomb", compare="diff")
    assert (n, method) == (len(s1) + len(s2), "newcombe")
    assert value == pytest.approx(k2 / len(s2) - k1 / len(s1), abs=1e-12)
    assert (lo, hi) == (pytest.approx(ref[0], abs=1e-9), pytest.approx(ref[1], abs=1e-9))
    for metric, key in (("mean_reward", "reward"), ("ctr", "ctr"), ("roas", "roas")):
        x1, x2 = data["V1"][key], data["V2"][key]
        n, value, lo, hi, method = got[("V2-V1", metric)]
        ref = stats.ttest_ind(x2, x1, equal_var=False).confidence_interval(0.95)
        assert (n, method) == (len(x1) + len(x2), "welch")
        assert value == pytest.approx(np.mean(x2) - np.mean(x1), abs=1e-12)
        assert (lo, hi) == (pytest.approx(ref.low, abs=1e-9), pytest.approx(ref.high, abs=1e-9))


def test_compare_with_missing_cohort_and_level_setting(db: psycopg.Connection) -> None:
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    ids = ms.ads(db, run, ["approved", "rejected", "approved", "approved"], decided_at=NOW - DAY)
    ms.rewards(db, ids[:1], [0.4], matured_at=NOW - DAY)
    got = _compare(db, b)
    assert got[("V1", "approval_rate")] == (0, None, None, None, None)
    assert got[("V2", "approval_rate")][:2] == (4, 0.75)
    # One reward: a mean but no interval; no difference without V1.
    assert got[("V2", "mean_reward")] == (1, 0.4, None, None, None)
    assert got[("V2-V1", "mean_reward")] == (1, None, None, None, None)
    db.execute("UPDATE genome.settings SET value = '0.9' WHERE key = 'monitoring_ci_level'")
    lo, hi = _compare(db, b)[("V2", "approval_rate")][2:4]
    ref = proportion_confint(3, 4, alpha=0.10, method="wilson")
    assert (lo, hi) == (pytest.approx(ref[0], abs=1e-9), pytest.approx(ref[1], abs=1e-9))


def test_compare_bad_inputs(db: psycopg.Connection) -> None:
    b = f.brand(db)
    for args, code in [
        ((None, NOW), "GN005"),
        (("00000000-0000-0000-0000-000000000009", NOW), "GN001"),
        ((b, None), "GN004"),
    ]:
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT * FROM genome.compare_v1_v2(%s, %s)", args)
        assert err.value.sqlstate == code
    db.execute("UPDATE genome.settings SET value = '1' WHERE key = 'monitoring_ci_level'")
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT * FROM genome.compare_v1_v2(%s, %s)", (b, NOW))
    assert err.value.sqlstate == "GN090"


def test_quantile_helpers_match_scipy(db: psycopg.Connection) -> None:
    for q in (0.5, 0.9, 0.95, 0.975, 0.995, 0.01):
        z = db.execute("SELECT genome._normal_quantile(%s)", (q,)).fetchone()[0]
        assert z == pytest.approx(stats.norm.ppf(q), abs=1e-12)
        for df in (1, 2.5, 7, 39, 120.7, 5000):
            t = db.execute("SELECT genome._t_quantile(%s, %s)", (q, df)).fetchone()[0]
            assert t == pytest.approx(stats.t.ppf(q, df), abs=1e-11, rel=1e-12), (q, df)
    for sql in (
        "SELECT genome._normal_quantile(1)",
        "SELECT genome._normal_quantile(NULL)",
        "SELECT genome._t_quantile(0.5, 0)",
        "SELECT genome._t_quantile(0, 3)",
    ):
        with pytest.raises(psycopg.Error) as err:
            db.execute(sql)
        assert err.value.sqlstate == "GN030"
