"""Experiments that always end (docs/experiments.md#stopping-rules, #srm, #ad-level): SRM on
spend against the planned budgets, delivery imbalance from CPM differences, futility pauses
that change the plan, the max_days end, cancelling, pausing and replacing, and ad-level
experiments kept out of causal_effects. Delivery is Meta-like: sim.market.deliver spends
near each ad set's budget and buys impressions at a noisy CPM."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from scipy.stats import chisquare

from sim import factories as f
from sim.market import deliver
from sim.truth import MarketParams
from tests.support.security import session
from tests.test_experiments import DAY, T0, _experiment, _propose

# No fatigue: arms with more impressions would otherwise lose CTR and differ for that.
MARKET = MarketParams(audience_size=10**9)
CPM = 12.0


def _arm_ads(db, exp) -> dict[int, list[uuid.UUID]]:
    """Each arm's current ads, mapped to Meta ads of the experiment campaign."""
    rows = db.execute(
        "SELECT a.arm_index, coalesce(array_agg(x.generated_ad_id ORDER BY x.id) "
        "FILTER (WHERE x.status = 'active'), ARRAY[a.generated_ad_id]) "
        "FROM genome.experiment_arms AS a LEFT JOIN genome.experiment_arm_ads AS x "
        "ON x.experiment_id = a.experiment_id AND x.arm_index = a.arm_index "
        "WHERE a.experiment_id = %s GROUP BY a.arm_index, a.generated_ad_id ORDER BY a.arm_index",
        (exp,),
    ).fetchall()
    for _i, ads in rows:
        for ad in ads:
            db.execute(
                "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_ad_account_id, "
                "meta_campaign_id) VALUES (%s, %s, 'acct', 'exp-camp') ON CONFLICT DO NOTHING",
                (ad, f"meta-{ad}"),
            )
    return {i: ads for i, ads in rows}


def _meta_day(db, exp, day: int, rng, *, budget, cpm, ctr) -> np.ndarray:
    """One day of Meta delivery to every ad of every arm: an arm's budget split over its
    ads (budget, cpm, ctr per arm). Returns the arms' (spend, impressions)."""
    ads = _arm_ads(db, exp)
    arms = sorted(ads)
    per_ad = [(i, ad) for i in arms for ad in ads[i]]
    idx = np.array([i for i, _ in per_ad])
    n_ads = np.array([len(ads[i]) for i in idx])
    d = deliver(
        rng,
        MARKET,
        budget=np.asarray(budget, float)[idx] / n_ads,
        cpm=np.asarray(cpm, float)[idx],
        ctr=np.asarray(ctr, float)[idx],
        cvr=np.zeros(len(idx)),
        aov=np.full(len(idx), 40.0),
        cum_impressions=np.zeros(len(idx)),
    )
    totals = np.zeros((len(arms), 2))
    for k, (i, ad) in enumerate(per_ad):
        if budget[i] <= 0:
            continue  # a paused ad set delivers nothing
        f.perf(
            db,
            f"meta-{ad}",
            (T0 + day * DAY).date(),
            impressions=int(d.impressions[k]),
            clicks=int(d.clicks[k]),
            spend=float(d.spend[k]),
            campaign="exp-camp",
            objective="OUTCOME_TRAFFIC",
        )
        totals[i] += (d.spend[k], d.impressions[k])
    return totals


def _plan(db, exp) -> list[tuple]:
    return db.execute(
        "SELECT arm_index, status, planned_share, planned_budget_daily FROM genome.experiment_arms "
        "WHERE experiment_id = %s ORDER BY arm_index",
        (exp,),
    ).fetchall()


def _run(db, exp, days: int, seed: int, *, budget=None, cpm, ctr, follow_plan=False):
    """Deliver day d, analyse the next morning (1-day lag), until the experiment completes.
    With follow_plan the app applies the plan's budgets (a paused arm gets 0) each day."""
    rng = np.random.default_rng(seed)
    totals = np.zeros((len(ctr), 2))
    summaries = []
    for d in range(days):
        if follow_plan:
            budget = [float(b) for _i, _s, _sh, b in _plan(db, exp)]
        totals += _meta_day(db, exp, d, rng, budget=budget, cpm=cpm, ctr=ctr)
        db.execute("SELECT genome.analyze_experiments(%s)", (T0 + (d + 1) * DAY,))
        e = _experiment(db, exp)
        summaries.append(e["result_summary"])
        if e["status"] == "completed":
            break
    return summaries, totals


def _start(db, b, p, **kw) -> uuid.UUID:
    exp = _propose(db, b, p, **kw)
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    return exp


@pytest.fixture
def bp(db):
    b = f.brand(db)
    return b, f.product(db, b)


def _srm_alerts(db, b) -> int:
    return db.execute(
        "SELECT count(*) FROM genome.system_alerts WHERE brand_id = %s AND alert_type = 'experiment_srm'",
        (b,),
    ).fetchone()[0]


def test_cpm_20_percent_apart_is_a_delivery_imbalance_not_srm_and_the_test_ends(db, bp) -> None:
    b, p = bp
    exp = _start(db, b, p, budget=40, days=14)
    # A/A on CTR; equal budgets, CPMs 20% below and above: Meta buys 50% more impressions
    # for the cheaper arm.
    summaries, totals = _run(
        db, exp, 14, 7, budget=[40, 40], cpm=[0.8 * CPM, 1.2 * CPM], ctr=[0.012] * 2
    )
    e = _experiment(db, exp)
    assert (e["status"], e["verdict"]) == ("completed", "inconclusive")
    assert e["result_summary"]["stop_reason"] in ("planned_sample", "max_days")
    assert len(summaries) <= 14
    assert all(s["decision"] != "srm_hold" and not s["srm"] for s in summaries)
    assert _srm_alerts(db, b) == 0
    # The impressions are far from the planned split: the old test would have held it.
    last = summaries[-1]
    impressions = [a["impressions"] for a in last["arms"]]
    assert chisquare(impressions).pvalue < 1e-6
    assert last["delivery_imbalance"] and last["delivery_p_value"] < 0.001
    assert last["delivery_p_value"] == pytest.approx(
        chisquare(impressions).pvalue, rel=1e-6, abs=1e-300
    )
    # The arms' data are the sums over their three ads.
    assert impressions == [int(t) for t in totals[:, 1]]
    assert [a["ads"] for a in last["arms"]] == [3, 3]


def test_an_arm_at_70_percent_of_its_budget_is_an_srm_held_until_max_days(db, bp) -> None:
    b, p = bp
    exp = _start(db, b, p, budget=60, days=8)
    # The treatment is clearly better, but its ad set got 70% of the planned budget.
    summaries, totals = _run(db, exp, 8, 11, budget=[60, 42], cpm=[CPM, CPM], ctr=[0.012, 0.018])
    decisions = [s["decision"] for s in summaries]
    # Held (never declared) while the spend split is off, then ended at max_days.
    assert decisions[:-1] and set(decisions[2:-1]) == {"srm_hold"}
    assert len(summaries) == 8
    e = _experiment(db, exp)
    assert e["status"] == "completed" and e["verdict"] in ("winner", "inconclusive")
    final = e["result_summary"]
    assert final["stop_reason"] in (None, "max_days") and final["srm"] and not final["verdict_held"]
    # The SRM test is the chi-square of the spend in impressions at the pooled CPM.
    spend = [a["spend"] for a in final["arms"]]
    impressions = [a["impressions"] for a in final["arms"]]
    units = np.array(spend) * sum(impressions) / sum(spend)
    assert final["srm_p_value"] == pytest.approx(chisquare(units).pvalue, rel=1e-6, abs=1e-300)
    assert final["srm_deviation"] == pytest.approx(1 - min(spend) / (sum(spend) / 2), abs=1e-9)
    assert spend == pytest.approx(list(totals[:, 0]))
    alert = db.execute(
        "SELECT details FROM genome.system_alerts WHERE brand_id = %s AND alert_type = 'experiment_srm'",
        (b,),
    ).fetchall()
    assert len(alert) == 1 and str(exp) in alert[0][0]["experiments"]


def test_an_arm_paused_for_futility_changes_the_plan_raises_no_srm_and_the_test_ends(
    db, bp
) -> None:
    b, p = bp
    exp = _start(db, b, p, treatments=["social_proof", "authority"], budget=40, days=14)
    summaries, _ = _run(db, exp, 14, 3, cpm=[CPM] * 3, ctr=[0.012, 0.012, 0.003], follow_plan=True)
    plan = _plan(db, exp)
    assert [(i, s) for i, s, _sh, _b in plan] == [(0, "active"), (1, "active"), (2, "paused")]
    assert [sh for _i, _s, sh, _b in plan] == pytest.approx([0.5, 0.5, 0.0])
    assert float(plan[2][3]) == 0
    events = db.execute(
        "SELECT arm_index, event_type, source, reason FROM genome.experiment_events WHERE experiment_id = %s",
        (exp,),
    ).fetchall()
    assert len(events) == 1 and events[0][:3] == (2, "pause_arm", "futility")
    deployment = _experiment(db, exp)["deployment_plan"]
    assert (
        deployment["ad_sets"][2]["status"] == "paused"
        and deployment["campaign"]["daily_budget"] == 80
    )
    paused_on = next(k for k, s in enumerate(summaries) if s["paused_arms"])
    assert paused_on < len(summaries) - 1
    assert all(s["decision"] != "srm_hold" and not s["srm"] for s in summaries)
    e = _experiment(db, exp)
    assert (e["status"], e["verdict"]) == ("completed", "inconclusive")
    # With the plan left at thirds, the paused arm's stopped delivery would be a mismatch.
    last = e["result_summary"]["arms"]
    assert chisquare([a["spend"] for a in last]).pvalue < 0.001


def test_one_creative_per_arm_is_ad_level_and_stays_out_of_causal_effects(db, bp) -> None:
    b, p = bp
    exp = db.execute(
        "SELECT genome.propose_experiment(%s, %s, 'hook_type', 'curiosity_gap', ARRAY['social_proof'], "
        "'h', 40::numeric, 14, p_now => %s, p_ads_per_arm => 1)",
        (b, p, T0),
    ).fetchone()[0]
    assert _experiment(db, exp)["scope"] == "ad_level"
    db.execute("SELECT genome.start_experiment(%s, 'exp-camp', %s)", (exp, T0))
    summaries, _ = _run(db, exp, 14, 5, budget=[40, 40], cpm=[CPM] * 2, ctr=[0.012, 0.020])
    e = _experiment(db, exp)
    assert (e["status"], e["verdict"], e["scope"]) == ("completed", "winner", "ad_level")
    assert summaries[-1]["scope"] == "ad_level"
    assert (
        db.execute(
            "SELECT count(*) FROM genome.causal_effects WHERE experiment_id = %s", (exp,)
        ).fetchone()[0]
        == 0
    )


def test_cancel_pause_and_replace_keep_their_history_and_refuse_bad_calls(db, db_dsn, bp) -> None:
    b, p = bp
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    exp = _start(db, b, p, treatments=["social_proof", "authority"], budget=40)
    ads = _arm_ads(db, exp)
    other_brand = f.brand(db)
    foreign = f.ad(db, f.ad_run(db, f.product(db, other_brand)), {"hook_type": "social_proof"})

    def code(sql, args) -> str:
        with pytest.raises(psycopg.Error) as err:
            db.execute(sql, args)
        return err.value.sqlstate

    replace = "SELECT genome.replace_arm_ad(%s, %s, %s, %s, %s, %s)"
    # The app (its organization's session) replaces a rejected ad with one the genome plans.
    with session(db_dsn, "genome_app", org) as app:
        new = app.execute(
            replace, (exp, 1, None, "rejected by Meta review", ads[1][0], T0 + DAY)
        ).fetchone()[0]
    rows = db.execute(
        "SELECT generated_ad_id, status, replaced_at FROM genome.experiment_arm_ads "
        "WHERE experiment_id = %s AND arm_index = 1 ORDER BY id",
        (exp,),
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        (ads[1][0], "replaced"),
        (ads[1][1], "active"),
        (ads[1][2], "active"),
        (new, "active"),
    ]
    arm_tags = db.execute(
        "SELECT element_tags FROM genome.experiment_arms WHERE experiment_id = %s AND arm_index = 1",
        (exp,),
    ).fetchone()[0]
    new_tags = db.execute(
        "SELECT element_tags FROM generated_ads WHERE id = %s", (new,)
    ).fetchone()[0]
    assert new_tags.items() >= arm_tags.items()
    plan = _experiment(db, exp)["deployment_plan"]
    assert plan["ad_sets"][1]["ads"] == [str(new), str(ads[1][1]), str(ads[1][2])]
    # Bad replacements.
    assert code(replace, (exp, 1, new, "again", None, T0)) == "GN615"  # three active ads: name one
    assert code(replace, (exp, 1, foreign, "r", ads[1][1], T0)) == "GN615"  # another brand's ad
    assert code(replace, (exp, 2, ads[0][0], "r", ads[2][0], T0)) == "GN615"  # control's elements
    assert code(replace, (exp, 1, None, "r", ads[1][0], T0)) == "GN615"  # already replaced
    assert code(replace, (exp, 7, None, "r", None, T0)) == "GN613"
    assert code(replace, (uuid.uuid4(), 1, None, "r", None, T0)) == "GN600"
    assert code(replace, (exp, 1, None, "  ", ads[1][1], T0)) == "GN612"
    # A person pauses an arm: the plan follows; the last two arms cannot both go.
    pause = "SELECT genome.pause_experiment_arm(%s, %s, %s, %s)"
    db.execute(pause, (exp, 2, "brand asked to drop authority claims", T0 + 2 * DAY))
    assert [(i, s, round(sh, 6)) for i, s, sh, _b in _plan(db, exp)] == [
        (0, "active", 0.5),
        (1, "active", 0.5),
        (2, "paused", 0.0),
    ]
    assert code(pause, (exp, 2, "again", T0)) == "GN614"
    assert code(pause, (exp, 1, "one left", T0)) == "GN614"
    # Another organization sees no experiment.
    with session(db_dsn, "genome_app", f.org(db, "Other")) as app:
        with pytest.raises(psycopg.Error) as err:
            app.execute("SELECT genome.cancel_experiment(%s, 'x', %s)", (exp, T0))
        assert err.value.sqlstate == "GN600"
    cancel = "SELECT genome.cancel_experiment(%s, %s, %s)"
    assert code(cancel, (exp, None, T0)) == "GN612"
    with session(db_dsn, "genome_app", org) as app:
        app.execute(cancel, (exp, "budget cut for the quarter", T0 + 3 * DAY))
    e = db.execute(
        "SELECT status, verdict, cancelled_at, cancel_reason FROM genome.experiments WHERE id = %s",
        (exp,),
    ).fetchone()
    assert e == ("cancelled", "cancelled", T0 + 3 * DAY, "budget cut for the quarter")
    assert code(cancel, (exp, "twice", T0)) == "GN611"
    assert code(replace, (exp, 1, None, "late", ads[1][1], T0)) == "GN611"
    assert code(cancel, (uuid.uuid4(), "x", T0)) == "GN600"
    history = db.execute(
        "SELECT event_type, source, arm_index, reason, details FROM genome.experiment_events "
        "WHERE experiment_id = %s ORDER BY id",
        (exp,),
    ).fetchall()
    assert [h[:3] for h in history] == [
        ("replace_ad", "person", 1),
        ("pause_arm", "person", 2),
        ("cancel", "person", None),
    ]
    assert history[0][4] == {
        "old_ad_id": str(ads[1][0]),
        "new_ad_id": str(new),
        "planned_by_genome": True,
    }
    assert history[2][4]["previous_status"] == "running"
    # A cancelled experiment is no longer analysed.
    assert db.execute("SELECT genome.analyze_experiments(%s)", (T0 + 4 * DAY,)).fetchone()[0] == 0


def test_srm_on_spend_by_simulation_ignores_cpm_and_pacing_and_catches_a_short_budget(db) -> None:
    """200 two-arm experiments over 14 days of Meta-like delivery (pacing 90-105% of the
    budget, CPM noise, arms' CPMs 20% apart in either direction): in the 100 healthy ones no
    day is a mismatch though their impressions are imbalanced; in the 100 whose treatment ad
    set got 70% of its budget every day from the third on is one."""
    db.execute("UPDATE genome.settings SET value = '200' WHERE key = 'experiment_mc_draws'")
    rng = np.random.default_rng(2026)
    n, days = 200, 14
    broken = np.arange(n) >= n // 2
    tilt = rng.choice([-0.2, 0.2], size=n)
    cpm = np.stack([CPM * (1 + tilt), CPM * (1 - tilt)], axis=1)  # (n, 2)
    budget = np.stack([np.full(n, 40.0), np.where(broken, 28.0, 40.0)], axis=1)
    spend = np.zeros((n, days, 2))
    impressions = np.zeros((n, days, 2), dtype=np.int64)
    clicks = np.zeros((n, days, 2), dtype=np.int64)
    for d in range(days):
        out = deliver(
            rng,
            MARKET,
            budget=budget.ravel(),
            cpm=cpm.ravel(),
            ctr=np.full(2 * n, 0.012),
            cvr=np.zeros(2 * n),
            aov=np.full(2 * n, 40.0),
            cum_impressions=np.zeros(2 * n),
        )
        spend[:, d] = out.spend.reshape(n, 2)
        impressions[:, d] = out.impressions.reshape(n, 2)
        clicks[:, d] = out.clicks.reshape(n, 2)
    cum = [x.cumsum(axis=1).reshape(-1) for x in (spend, impressions, clicks)]
    groups = n * days
    rows = db.execute(
        """
        SELECT grp, bool_or(srm), bool_or(delivery_imbalance)
        FROM genome._experiment_decisions(
            %s::integer[], %s::integer[], %s::bigint[], %s::bigint[], %s::bigint[], %s::float8[],
            %s::float8[], %s::float8[], %s::float8[], %s::boolean[], 1, %s::float8[])
        GROUP BY grp ORDER BY grp
        """,
        (
            np.repeat(np.arange(groups), 2).tolist(),
            np.tile([0, 1], groups).tolist(),
            cum[1].tolist(),
            cum[1].tolist(),
            cum[2].tolist(),
            [0.5] * 2 * groups,
            [0.012] * 2 * groups,
            [34000.0] * 2 * groups,
            [0.9] * 2 * groups,
            [False] * 2 * groups,
            cum[0].tolist(),
        ),
    ).fetchall()
    srm = np.array([r[1] for r in rows]).reshape(n, days)
    imbalance = np.array([r[2] for r in rows]).reshape(n, days)
    assert not srm[~broken].any()
    assert srm[broken][:, 2:].all()
    # CPMs 20% apart: the impressions are off the plan in nearly every healthy experiment.
    assert imbalance[~broken][:, -1].mean() > 0.95
