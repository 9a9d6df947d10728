"""genome.propose_experiment, start_experiment and analyze_experiments end to end: the budget
gate, the deployment plan and arms' ads, daily analysis from Meta insights, winner,
futility, inconclusive, SRM alerts and the causal knowledge base."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import numpy as np
import psycopg
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from sim import factories as f

T0 = dt.datetime(2026, 5, 4, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _planned(baseline: float, mde: float = 0.20) -> int:
    effect = proportion_effectsize(baseline * (1 + mde), baseline)
    return math.ceil(NormalIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8))


def _propose(db, brand, product, **kw) -> uuid.UUID:
    args = {
        "variable": "hook_type",
        "control": "curiosity_gap",
        "treatments": ["social_proof"],
        "hypothesis": "Social proof beats curiosity for this product",
        "budget": 40,
        "days": 14,
        "metric": "link_ctr",
        "mde": 0.20,
        "now": T0,
        "allow": False,
    } | kw
    return db.execute(
        """
        SELECT genome.propose_experiment(
            %(brand)s, %(product)s, %(variable)s, %(control)s, %(treatments)s, %(hypothesis)s,
            %(budget)s::numeric, %(days)s, p_primary_metric => %(metric)s, p_mde => %(mde)s::numeric,
            p_now => %(now)s, p_allow_over_budget => %(allow)s)
        """,
        args | {"brand": brand, "product": product},
    ).fetchone()[0]


def _arms(db, experiment_id) -> list[tuple]:
    return db.execute(
        "SELECT id, arm_index, test_variable_value, element_tags, generated_ad_id "
        "FROM genome.experiment_arms WHERE experiment_id = %s ORDER BY arm_index",
        (experiment_id,),
    ).fetchall()


def _deliver(db, experiment_id, days: int, per_arm, start=T0) -> None:
    """Meta insights for each arm's ad, day by day (link_ctr stored in percent by the app)."""
    for _arm_id, index, _value, _tags, ad_id in _arms(db, experiment_id):
        meta = f"meta-{ad_id}"
        db.execute(
            "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_ad_account_id, "
            "meta_campaign_id) VALUES (%s, %s, 'acct', 'exp-camp') ON CONFLICT DO NOTHING",
            (ad_id, meta),
        )
        impressions, ctr = per_arm[index]
        for d in range(days):
            f.perf(
                db,
                meta,
                (start + d * DAY).date(),
                impressions=impressions,
                clicks=round(impressions * ctr),
                spend=impressions * 12.0 / 1000,
                campaign="exp-camp",
                objective="OUTCOME_TRAFFIC",
            )


def _experiment(db, experiment_id) -> dict:
    cur = db.execute(
        "SELECT status, verdict, winning_arm_id, srm_p_value, result_summary, required_trials_per_arm, "
        "required_impressions_per_arm, required_spend, over_budget, baseline_rate, baseline_source, "
        "cpm, cpm_source, hold_constant, deployment_plan, ad_run_id, completed_at, scope "
        "FROM genome.experiments WHERE id = %s",
        (experiment_id,),
    )
    return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def _counts(db) -> tuple[int, ...]:
    return db.execute(
        "SELECT (SELECT count(*) FROM genome.experiments), (SELECT count(*) FROM genome.experiment_arms), "
        "(SELECT count(*) FROM ad_runs), (SELECT count(*) FROM generated_ads), "
        "(SELECT count(*) FROM genome.agent_jobs)"
    ).fetchone()


@pytest.fixture
def bp(db):
    b = f.brand(db)
    return b, f.product(db, b)


def test_proposal_plans_several_ads_per_arm_holding_everything_but_the_variable(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p, treatments=["social_proof", "authority"], budget=45)
    e = _experiment(db, exp)
    assert e["status"] == "deploying" and not e["over_budget"]
    # Power analysis on the documented default baseline (no rewards, no baselines yet).
    assert (e["baseline_rate"], e["baseline_source"]) == (0.012, "default")
    assert e["required_trials_per_arm"] == _planned(0.012) == e["required_impressions_per_arm"]
    assert (float(e["cpm"]), e["cpm_source"]) == (12.0, "default")
    assert float(e["required_spend"]) == pytest.approx(
        3 * round(e["required_impressions_per_arm"] * 12.0 / 1000, 2)
    )
    arms = _arms(db, exp)
    assert [(a[1], a[2]) for a in arms] == [
        (0, "curiosity_gap"),
        (1, "social_proof"),
        (2, "authority"),
    ]
    hold = e["hold_constant"]
    assert "hook_type" not in hold and {"belief_angle", "color_mode"} <= set(hold)
    # experiment_min_ads_per_arm (3) creatives per arm, all with the arm's elements: the
    # arm measures the element, not one ad (scope element).
    assert e["scope"] == "element"
    arm_ads = db.execute(
        "SELECT arm_index, array_agg(generated_ad_id ORDER BY id) FROM genome.experiment_arm_ads "
        "WHERE experiment_id = %s AND status = 'active' GROUP BY arm_index ORDER BY arm_index",
        (exp,),
    ).fetchall()
    assert [(i, len(ads)) for i, ads in arm_ads] == [(0, 3), (1, 3), (2, 3)]
    for (_id, _index, value, tags, first_ad), (_i, ads) in zip(arms, arm_ads, strict=True):
        assert tags == hold | {"hook_type": value}
        assert first_ad == ads[0]
        for ad_id in ads:
            ad_tags, run = db.execute(
                "SELECT element_tags, ad_run_id FROM generated_ads WHERE id = %s", (ad_id,)
            ).fetchone()
            assert {k: v for k, v in ad_tags.items() if k != "canvas_size"} == tags
            assert run == e["ad_run_id"]
            jobs = db.execute(
                "SELECT kind FROM genome.agent_jobs WHERE generated_ad_id = %s", (ad_id,)
            ).fetchall()
            assert jobs == [("generate",)]
    plan = e["deployment_plan"]
    assert plan["campaign"]["budget_optimization"] == "CBO"
    assert plan["campaign"]["type"].startswith("dedicated")
    assert plan["campaign"]["daily_budget"] == 135
    assert [s["arm_index"] for s in plan["ad_sets"]] == [0, 1, 2]
    assert {s["min_daily_spend"] for s in plan["ad_sets"]} == {45}
    assert [s["ads"] for s in plan["ad_sets"]] == [[str(a) for a in ads] for _i, ads in arm_ads]
    assert {(s["targeting"], s["bid_strategy"], s["placements"]) for s in plan["ad_sets"]} == {
        ("identical (audience_config)", "identical", "identical")
    }
    assert plan["power_analysis"]["required_trials_per_arm"] == e["required_trials_per_arm"]


def test_budget_gate_refuses_an_underfunded_test_and_states_the_needed_spend(db, bp) -> None:
    b, p = bp
    # The brand's own CTR (matured rewards) and CPM (recent insights) drive the plan.
    run = f.ad_run(db, p)
    for i in range(3):
        ad = f.ad(db, run, {"hook_type": "story"})
        f.reward(db, ad, 0.5, T0 - 5 * DAY, impressions=4000, clicks=80)
        meta = f.link(db, ad, f"cpm-{i}")
        f.perf(
            db, meta, (T0 - 3 * DAY).date(), impressions=10_000, clicks=150, spend=150.0, brand_id=b
        )
    before = _counts(db)
    with pytest.raises(psycopg.Error) as err:
        _propose(db, b, p, budget=20, days=14)
    assert err.value.sqlstate == "GN608"
    impressions = _planned(0.02)  # 240 clicks / 12,000 impressions
    # CPM 15 from the insights; money rounds half up, as numeric does.
    per_arm = (Decimal(impressions) * 15 / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    message = str(err.value)
    assert f"needs {per_arm:.2f} per arm ({2 * per_arm:.2f} in total)" in message
    assert "gives 280.00 per arm" in message
    min_daily = (per_arm / 14).quantize(Decimal("0.01"), ROUND_CEILING)
    assert f"raise budget_per_arm_daily to at least {min_daily}" in err.value.diag.message_hint
    assert _counts(db) == before, "a refused proposal writes nothing"
    # Funded, it passes with the same numbers recorded.
    exp = _propose(db, b, p, budget=min_daily, days=14)
    e = _experiment(db, exp)
    assert (e["baseline_source"], e["cpm_source"]) == ("rewards", "performance")
    assert e["baseline_rate"] == pytest.approx(0.02)
    assert e["required_spend"] == 2 * per_arm


def test_over_budget_draft_with_the_flag_plans_no_ads_and_cannot_start(db, bp) -> None:
    b, p = bp
    ads_before = db.execute("SELECT count(*) FROM generated_ads").fetchone()[0]
    exp = _propose(db, b, p, budget=5, allow=True)
    e = _experiment(db, exp)
    assert (e["status"], e["over_budget"], e["ad_run_id"]) == ("draft", True, None)
    assert e["deployment_plan"]["budget"]["over_budget"] is True
    assert all(a[4] is None for a in _arms(db, exp))
    assert db.execute("SELECT count(*) FROM generated_ads").fetchone()[0] == ads_before
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.start_experiment(%s, 'c', %s)", (exp, T0))
    assert err.value.sqlstate == "GN610"
    assert "over-budget" in str(err.value)


def test_baselines_from_the_app_and_conversion_tests_in_clicks(db, bp) -> None:
    b, p = bp
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    db.execute(
        "INSERT INTO ad_intelligence_baselines (organization_id, brand_id, awareness_level, "
        "creative_format, median_ctr, median_conversion_rate, median_cpm, computed_at) "
        "VALUES (%s, %s, 'all', 'all', 0.015, 0.03, 20, %s)",
        (org, b, T0 - 30 * DAY),
    )
    exp = _propose(db, b, p, metric="conversion_rate", budget=10_000, days=30)
    e = _experiment(db, exp)
    assert (e["baseline_rate"], e["baseline_source"], e["cpm_source"]) == (
        0.03,
        "baselines",
        "baselines",
    )
    # Conversions are purchases per click: the sample is clicks, turned into impressions
    # with the brand's CTR (a ratio, 1.5%).
    assert e["required_trials_per_arm"] == _planned(0.03)
    assert e["required_impressions_per_arm"] == math.ceil(_planned(0.03) / 0.015)
    assert e["deployment_plan"]["campaign"]["objective"] == "OUTCOME_SALES"


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        (
            {"variable": "awareness_stage", "control": "unaware", "treatments": ["most_aware"]},
            "GN601",
        ),
        ({"variable": "no_such_thing"}, "GN601"),
        ({"control": "not_a_hook"}, "GN602"),
        ({"treatments": ["social_proof", "nope"]}, "GN602"),
        ({"treatments": []}, "GN603"),
        ({"treatments": ["a", "b", "c", "d"]}, "GN603"),
        ({"treatments": ["curiosity"]}, "GN603"),  # alias of the control
        ({"treatments": ["story", "story"]}, "GN603"),
        ({"hypothesis": "  "}, "GN604"),
        ({"budget": 0}, "GN605"),
        ({"budget": float("nan")}, "GN605"),
        ({"days": 0}, "GN605"),
        ({"metric": "roas"}, "GN606"),
        ({"mde": -0.1}, "GN607"),
        ({"mde": 100}, "GN607"),
        ({"now": None}, "GN004"),
    ],
)
def test_bad_proposals_are_refused_and_write_nothing(db, bp, kw, code) -> None:
    b, p = bp
    before = _counts(db)
    with pytest.raises(psycopg.Error) as err:
        _propose(db, b, p, **kw)
    assert err.value.sqlstate == code, err.value
    assert _counts(db) == before


def test_unknown_brand_or_missing_product(db, bp) -> None:
    b, _p = bp
    with pytest.raises(psycopg.Error) as err:
        _propose(db, uuid.uuid4(), None)
    assert err.value.sqlstate == "GN001"
    with pytest.raises(psycopg.Error) as err:
        _propose(db, b, None)
    assert err.value.sqlstate == "GN609"
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.start_experiment(%s, NULL, %s)", (uuid.uuid4(), T0))
    assert err.value.sqlstate == "GN600"


def _analyze_until_done(db, experiment_id, last_day: int) -> list[tuple]:
    decisions = []
    for d in range(1, last_day + 1):
        n = db.execute("SELECT genome.analyze_experiments(%s)", (T0 + d * DAY,)).fetchone()[0]
        status = _experiment(db, experiment_id)["status"]
        decisions.append((d, n, status))
        if status == "completed":
            break
    return decisions


def test_daily_analysis_declares_the_winner_and_records_the_causal_effect(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    # Treatment clicks 50% more; 3,000 impressions a day per arm.
    _deliver(db, exp, 14, [(3000, 0.012), (3000, 0.018)])
    steps = _analyze_until_done(db, exp, 14)
    e = _experiment(db, exp)
    assert (e["status"], e["verdict"]) == ("completed", "winner")
    days = steps[-1][0]
    assert 3 <= days < 14 and all(n == 1 for _, n, _ in steps)
    arms = db.execute(
        "SELECT id, arm_index, total_impressions, total_clicks, ctr, posterior_mean, prob_best, "
        "expected_loss, recommendation FROM genome.experiment_arms WHERE experiment_id = %s "
        "ORDER BY arm_index",
        (exp,),
    ).fetchall()
    control, treatment = arms
    assert e["winning_arm_id"] == treatment[0]
    assert (control[8], treatment[8]) == ("pause", "winner")
    # Data through yesterday only (1-day lag): `days` complete days of 3,000 impressions.
    assert control[2] == treatment[2] == 3000 * days
    assert float(treatment[4]) == pytest.approx(0.018)  # a ratio, never Meta's percent
    assert float(treatment[6]) > 0.90 and float(control[6]) + float(treatment[6]) == pytest.approx(
        1
    )
    # The stored decision is the core's on the same numbers (same daily seed).
    today = (T0 + days * DAY).date()
    ref = db.execute(
        """
        SELECT prob_best, posterior_mean FROM genome._experiment_decisions(
            ARRAY[1, 1], ARRAY[0, 1], %s::bigint[], %s::bigint[], %s::bigint[], ARRAY[0.5, 0.5],
            ARRAY[0.012, 0.012], %s::float8[], ARRAY[0.9, 0.9], ARRAY[false, false],
            (%s::date - DATE '2000-01-01')::bigint)
        ORDER BY idx
        """,
        (
            [control[2], treatment[2]],
            [control[2], treatment[2]],
            [control[3], treatment[3]],
            [e["required_trials_per_arm"]] * 2,
            today,
        ),
    ).fetchall()
    assert [round(r[0], 4) for r in ref] == [float(control[6]), float(treatment[6])]
    # One analysis row per day, the last one the winner.
    history = db.execute(
        "SELECT analysis_date, decision FROM genome.experiment_analyses WHERE experiment_id = %s "
        "ORDER BY analysis_date",
        (exp,),
    ).fetchall()
    assert [h[0] for h in history] == [(T0 + d * DAY).date() for d in range(1, days + 1)]
    assert history[-1][1] == "winner" and all(h[1] == "continue" for h in history[:-1])
    # Completed experiments are no longer analysed.
    assert db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 15 * DAY,)).fetchone()[0] == 0
    effect = db.execute(
        "SELECT control_value, treatment_value, effect_size, relative_effect, ci_lower, ci_upper, "
        "posterior_prob_positive, control_n, treatment_n, control_rate, treatment_rate, verdict "
        "FROM genome.causal_effects WHERE experiment_id = %s",
        (exp,),
    ).fetchall()
    assert len(effect) == 1
    cv, tv, size, rel, lo, hi, ppos, cn, tn, crate, trate, verdict = effect[0]
    assert (cv, tv, cn, tn, verdict) == (
        "curiosity_gap",
        "social_proof",
        3000 * days,
        3000 * days,
        "winner",
    )
    # Flat-prior estimate: the data's own rates, not shrunk towards the baseline.
    n = 3000 * days
    assert crate == pytest.approx((1 + 0.012 * n) / (2 + n))
    assert trate == pytest.approx((1 + 0.018 * n) / (2 + n))
    assert float(size) == pytest.approx(trate - crate, abs=2e-4)
    assert float(lo) < float(size) < float(hi) and float(lo) > 0
    assert float(rel) == pytest.approx(float(size) / crate, abs=1e-3)
    assert float(ppos) > 0.99


def test_inconclusive_at_max_days_records_a_null_effect(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p, budget=100, days=5)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    _deliver(db, exp, 6, [(2000, 0.012), (2000, 0.012)])
    steps = _analyze_until_done(db, exp, 6)
    assert steps[-1][0] == 5
    e = _experiment(db, exp)
    assert (e["status"], e["verdict"], e["winning_arm_id"]) == ("completed", "inconclusive", None)
    assert e["result_summary"]["stop_reason"] == "max_days"
    lo, hi, verdict = db.execute(
        "SELECT ci_lower, ci_upper, verdict FROM genome.causal_effects WHERE experiment_id = %s",
        (exp,),
    ).fetchone()
    assert float(lo) < 0 < float(hi) and verdict == "inconclusive"


def test_futility_recommends_pausing_a_hopeless_arm(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p, treatments=["social_proof", "authority"], budget=60)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    _deliver(db, exp, 3, [(3000, 0.012), (3000, 0.0125), (3000, 0.001)])
    db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 3 * DAY,))
    recs = db.execute(
        "SELECT arm_index, recommendation, prob_best FROM genome.experiment_arms "
        "WHERE experiment_id = %s ORDER BY arm_index",
        (exp,),
    ).fetchall()
    assert [r[1] for r in recs] == ["continue", "continue", "pause"]
    assert float(recs[2][2]) < 0.05
    e = _experiment(db, exp)
    assert e["status"] == "running" and e["result_summary"]["decision"] == "futility_pause"


def test_srm_of_a_60_40_split_is_caught_alerted_once_per_brand_and_holds_the_verdict(
    db, bp
) -> None:
    b, p = bp
    skewed = [_propose(db, b, p), _propose(db, b, p, control="story")]
    balanced = _propose(db, b, p, control="question")
    for exp in [*skewed, balanced]:
        db.execute("SELECT genome.start_experiment(%s, NULL, %s)", (exp, T0))
    # Without the mismatch this lift would be a clear winner within days.
    for exp in skewed:
        _deliver(db, exp, 4, [(3600, 0.012), (2400, 0.020)])
    _deliver(db, balanced, 4, [(3000, 0.012), (3000, 0.012)])
    db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 4 * DAY,))
    ref_p = db.execute(
        "SELECT srm_p_value FROM genome._experiment_posteriors(ARRAY[1, 1], ARRAY[true, false], "
        "ARRAY[1.0, 1.0], ARRAY[14400.0, 9600.0], ARRAY[1.0, 1.0], ARRAY[1.0, 1.0], "
        "ARRAY[14400.0, 9600.0], ARRAY[0.5, 0.5], 100, 1) LIMIT 1"
    ).fetchone()[0]
    for exp in skewed:
        e = _experiment(db, exp)
        assert (e["status"], e["verdict"], e["winning_arm_id"]) == ("running", None, None)
        assert e["srm_p_value"] == pytest.approx(ref_p) and e["srm_p_value"] < 0.001
        assert e["result_summary"]["decision"] == "srm_hold" and e["result_summary"]["verdict_held"]
    assert _experiment(db, balanced)["srm_p_value"] > 0.001
    alerts = db.execute(
        "SELECT severity, status, details, metric_value FROM genome.system_alerts "
        "WHERE brand_id = %s AND alert_type = 'experiment_srm'",
        (b,),
    ).fetchall()
    assert len(alerts) == 1
    severity, status, details, value = alerts[0]
    assert (severity, status) == ("critical", "active")
    assert set(details["experiments"]) == {str(x) for x in skewed}
    assert value == pytest.approx(ref_p)
    # The next day the open alert is updated, not duplicated; verdicts stay held.
    _deliver(db, skewed[0], 1, [(3600, 0.012), (2400, 0.020)], start=T0 + 4 * DAY)
    db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 5 * DAY,))
    n = db.execute(
        "SELECT count(*) FROM genome.system_alerts WHERE brand_id = %s AND alert_type = 'experiment_srm'",
        (b,),
    ).fetchone()[0]
    assert n == 1
    assert _experiment(db, skewed[0])["status"] == "running"


def test_arms_without_insights_use_their_matured_rewards(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p)
    db.execute("SELECT genome.start_experiment(%s, NULL, %s)", (exp, T0))
    for _id, index, _v, _t, ad in _arms(db, exp):
        f.reward(db, ad, 0.5, T0 + 2 * DAY, impressions=5000, clicks=60 + 40 * index)
    assert db.execute("SELECT genome.analyze_experiments(%s)", (T0 + DAY,)).fetchone()[0] == 1
    rows = db.execute(
        "SELECT arms FROM genome.experiment_analyses WHERE experiment_id = %s", (exp,)
    ).fetchone()[0]
    assert [a["data_source"] for a in rows] == ["none", "none"]
    db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 3 * DAY,))
    totals = db.execute(
        "SELECT total_impressions, total_clicks FROM genome.experiment_arms WHERE experiment_id = %s "
        "ORDER BY arm_index",
        (exp,),
    ).fetchall()
    assert totals == [(5000, 60), (5000, 100)]


def test_insights_outside_the_experiment_campaign_or_before_the_start_do_not_count(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    _deliver(db, exp, 2, [(1000, 0.01), (1000, 0.01)])
    control_ad = _arms(db, exp)[0][4]
    f.link(db, control_ad, "other-meta", campaign="other")
    f.perf(db, "other-meta", T0.date(), impressions=50_000, clicks=900, campaign="other")
    f.perf(
        db, f"meta-{control_ad}", (T0 - DAY).date(), impressions=7777, clicks=7, campaign="exp-camp"
    )
    db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 2 * DAY,))
    impressions = db.execute(
        "SELECT total_impressions FROM genome.experiment_arms WHERE experiment_id = %s ORDER BY arm_index",
        (exp,),
    ).fetchall()
    assert impressions == [(2000,), (2000,)]


def test_run_job_experiment_analysis_runs_the_analysis(db, bp) -> None:
    b, p = bp
    exp = _propose(db, b, p)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    _deliver(db, exp, 2, [(3000, 0.012), (3000, 0.013)])
    out = db.execute(
        "SELECT genome.run_job('experiment_analysis', %s)", (T0 + 2 * DAY,)
    ).fetchone()[0]
    assert out["status"] == "succeeded" and out["rows"] == 1, out
    assert out["not_installed"] == []
    n = db.execute(
        "SELECT count(*) FROM genome.experiment_analyses WHERE experiment_id = %s", (exp,)
    ).fetchone()[0]
    assert n == 1
    # Re-running the same day replaces that day's row.
    db.execute("SELECT genome.run_job('experiment_analysis', %s)", (T0 + 2 * DAY,))
    assert (
        db.execute(
            "SELECT count(*) FROM genome.experiment_analyses WHERE experiment_id = %s", (exp,)
        ).fetchone()[0]
        == 1
    )


def test_prior_strength_zero_gives_flat_beta_posteriors(db) -> None:
    db.execute("UPDATE genome.settings SET value = '0' WHERE key = 'experiment_prior_strength'")
    rows = db.execute(
        "SELECT prior_alpha, prior_beta, posterior_alpha, posterior_beta FROM genome._experiment_decisions("
        "ARRAY[1, 1], ARRAY[0, 1], ARRAY[100, 100]::bigint[], ARRAY[100, 100]::bigint[], "
        "ARRAY[3, 9]::bigint[], ARRAY[0.5, 0.5], ARRAY[0.01, 0.01], ARRAY[5000.0, 5000.0], "
        "ARRAY[0.9, 0.9], ARRAY[false, false], 1) ORDER BY idx"
    ).fetchall()
    assert rows == [(1.0, 1.0, 4.0, 98.0), (1.0, 1.0, 10.0, 92.0)]
    db.execute("UPDATE genome.settings SET value = '2' WHERE key = 'experiment_prior_strength'")
    rows = db.execute(
        "SELECT prior_alpha, prior_beta FROM genome._experiment_decisions("
        "ARRAY[1, 1], ARRAY[0, 1], ARRAY[100, 100]::bigint[], ARRAY[100, 100]::bigint[], "
        "ARRAY[3, 9]::bigint[], ARRAY[0.5, 0.5], ARRAY[0.01, 0.01], ARRAY[5000.0, 5000.0], "
        "ARRAY[0.9, 0.9], ARRAY[false, false], 1) ORDER BY idx"
    ).fetchall()
    assert rows[0] == pytest.approx((1 + 2 * 5000 * 0.01, 1 + 2 * 5000 * 0.99))
    assert np.isfinite(rows[1]).all()


def test_experiments_made_without_a_plan_are_analysed_and_malformed_ones_skipped(db, bp) -> None:
    b, p = bp
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    run = f.ad_run(db, p)
    made = []
    for arms in ([0, 1], [1, 2]):  # the second has no control arm
        exp = db.execute(
            "INSERT INTO genome.experiments (organization_id, brand_id, product_id, name, hypothesis, "
            "test_variable, status, started_at) VALUES (%s, %s, %s, 'manual', 'h', 'hook_type', "
            "'running', %s) RETURNING id",
            (org, b, p, T0),
        ).fetchone()[0]
        for i in arms:
            ad = f.ad(db, run, {"hook_type": ["story", "question", "authority"][i]})
            db.execute(
                "INSERT INTO genome.experiment_arms (experiment_id, arm_name, arm_index, "
                "test_variable_value, generated_ad_id) VALUES (%s, %s, %s, 'v', %s)",
                (exp, f"arm{i}", i, ad),
            )
        made.append(exp)
        _deliver(db, exp, 3, {0: (2000, 0.01), 1: (2000, 0.02), 2: (2000, 0.02)})
    assert db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 3 * DAY,)).fetchone()[0] == 1
    good = _experiment(db, made[0])
    # Flat prior on the data (no planned sample): 60 vs 120 clicks in 6,000 impressions each.
    assert good["result_summary"]["arms"][0]["posterior_mean"] == pytest.approx(61 / 6002)
    assert good["status"] == "completed" and good["verdict"] == "winner"
    assert _experiment(db, made[1])["result_summary"] is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT genome.analyze_experiments(NULL)",
        "SELECT genome.analyze_experiments('infinity')",
        "SELECT * FROM genome.find_winners(NULL)",
        "SELECT genome.evolve_winners(NULL)",
    ],
)
def test_time_dependent_functions_refuse_a_missing_now(db, sql) -> None:
    with pytest.raises(psycopg.Error) as err:
        db.execute(sql)
    assert err.value.sqlstate == "GN004"
