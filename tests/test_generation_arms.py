"""Generation A/B arms act (docs/experiments.md#generation-ab-tests): an arm's config is
checked at start, carried by job_context and applied by the agents (prompt template,
pipeline settings) and the review (its rubric); the run-level test matches scipy and
statsmodels, and repeated A/A analyses with run effects and weekly looks keep their
false-positive rate at most alpha."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from scipy import stats
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind

from agents.pipeline import brief_from_context
from agents.providers.factory import offline_providers
from agents.providers.prompts import PROMPT_TEMPLATES, image_prompt
from sim import factories as f
from tests.support import pipeline as sp
from tests.support.security import run_agents_until_idle

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def _start(db, brand, control, variant, kind="review_rubric"):
    return db.execute(
        "SELECT genome.start_generation_experiment(%s, 'arms', %s, %s, %s, 5, %s)",
        (brand, kind, Jsonb(control), Jsonb(variant), NOW),
    ).fetchone()[0]


def _strict_config(db, brand) -> str:
    """An inactive config of the brand's organization that fails a uniform 8.0: every check
    and the weighted score must reach 8.5, with no borderline band."""
    return db.execute(
        """
        INSERT INTO genome.quality_scoring_config (
            organization_id, version, is_active, check_weights, check_thresholds,
            weighted_pass_threshold, weighted_flag_threshold, borderline_low, borderline_high
        )
        SELECT c.organization_id, 'strict-v1', false, c.check_weights,
               (SELECT jsonb_object_agg(k, 8.5) FROM jsonb_object_keys(c.check_weights) AS k),
               8.5, 8.5, 7.0, 7.0
        FROM genome.quality_scoring_config AS c
        JOIN brands AS b ON b.organization_id = c.organization_id AND b.id = %s
        WHERE c.is_active AND c.brand_id IS NULL
        RETURNING version
        """,
        (brand,),
    ).fetchone()[0]


def test_prompt_templates_are_the_ones_arms_may_name(db: psycopg.Connection) -> None:
    known = db.execute(
        "SELECT value FROM genome.settings WHERE key = 'generation_prompt_templates'"
    ).fetchone()[0]
    assert sorted(known) == sorted(PROMPT_TEMPLATES)


def test_start_refuses_arm_configs_the_agents_cannot_apply(db: psycopg.Connection) -> None:
    b = f.brand(db)
    other_org_brand = f.brand(db, f.org(db, "Other"))
    _strict_config(db, other_org_brand)  # a version of another organization: not usable
    bad = [
        {"prompt_template_version": "v9.9"},
        {"prompt_template_version": 2},
        {"review_rubric_version": "strict-v1"},
        {"review_rubric_version": ""},
        {"colour": "blue"},
        {"pipeline_settings": []},
        {"pipeline_settings": {"exemplar_count": 9}},
        {"pipeline_settings": {"exemplar_count": 1.5}},
        {"pipeline_settings": {"performance_context": "no"}},
        {"pipeline_settings": {"temperature": 0.2}},
    ]
    for cfg in bad:
        with pytest.raises(psycopg.Error) as err:
            _start(db, b, {"prompt_template_version": "v2.0"}, cfg, "pipeline_config")
        assert err.value.sqlstate == "GN816", cfg
    assert db.execute("SELECT count(*) FROM genome.generation_experiments").fetchone()[0] == 0
    good = {
        "prompt_template_version": "v2.1",
        "pipeline_version": "v3",
        "review_rubric_version": "default-v1",
        "pipeline_settings": {"exemplar_count": 0, "performance_context": False},
    }
    assert _start(db, b, {"prompt_template_version": "v2.0"}, good, "pipeline_config")


def _through_scan(db, ad: str, worker: str = "w1") -> None:
    job = sp.claim(db, "generate", worker)
    assert job["generated_ad_id"] == ad
    db.execute(
        "SELECT genome.record_generation(%s, %s, %s, 'a prompt', %s)",
        (job["id"], worker, f"/tmp/{ad}.png", json.dumps(sp.call("generate", "google"))),
    )
    job = sp.claim(db, "defect_scan", worker)
    db.execute(
        "SELECT genome.record_defect_scan(%s, %s, %s, %s)",
        (job["id"], worker, json.dumps(sp.CLEAN_SCAN), json.dumps(sp.call("defect_scan"))),
    )


def test_two_rubric_arms_decide_differently_on_the_same_images(db: psycopg.Connection) -> None:
    """The same review scores (the same image judged the same way) for an ad of each arm:
    the control's rubric approves it, the variant's strict rubric rejects it, through the
    real path (plan_ads, the queue, job_context, record_review)."""
    b = f.brand(db)
    p = f.product(db, b)
    strict = _strict_config(db, b)
    exp = _start(db, b, {"review_rubric_version": "default-v1"}, {"review_rubric_version": strict})
    same = sp.scores(8.0)
    got = {}
    for arm in ("control", "variant"):
        run = f.ad_run(db, p)
        (ad,) = [
            r[0] for r in db.execute("SELECT * FROM genome.plan_ads(%s, 1, %s, 1)", (run, NOW))
        ]
        _through_scan(db, ad)
        job = sp.claim(db, "review")
        ctx = db.execute("SELECT genome.job_context(%s, 'w1')", (job["id"],)).fetchone()[0]
        gen = ctx["generation"]
        assert gen["experiment"] == {"id": str(exp), "group": arm}
        assert gen["review_rubric_version"] == ctx["config"]["version"]
        assert ctx["config"]["version"] == ("default-v1" if arm == "control" else strict)
        assert sorted(r["code"] for r in ctx["rubric"]) == sorted(same)
        decision = db.execute(
            "SELECT genome.record_review(%s, 'w1', %s, %s)",
            (job["id"], json.dumps({"check_scores": same}), json.dumps(sp.call("review"))),
        ).fetchone()[0]
        version = db.execute(
            "SELECT c.version FROM genome.ad_reviews AS r "
            "JOIN genome.quality_scoring_config AS c ON c.id = r.config_id "
            "WHERE r.generated_ad_id = %s",
            (ad,),
        ).fetchone()[0]
        got[arm] = (decision, version, sp.ad_status(db, ad))
    assert got == {
        "control": ("approved", "default-v1", "approved"),
        "variant": ("rejected", strict, "rejected"),
    }
    # Outside the experiment the active config decides, as before.
    run = f.ad_run(db, f.product(db, f.brand(db)))
    (ad,) = [r[0] for r in db.execute("SELECT * FROM genome.plan_ads(%s, 1, %s, 1)", (run, NOW))]
    _through_scan(db, ad)
    assert sp.record_review(db, "review", same) == "approved"


def test_offline_agents_apply_the_arms_prompt_template_and_settings(
    db: psycopg.Connection, db_dsn: str, tmp_path: Path
) -> None:
    """The real agent runtime with the offline provider: each arm's ads are generated from
    its prompt template, and job_context hands the arm's pipeline settings over."""
    b = f.brand(db, name="Lumen")
    p = f.product(db, b, "Serum")
    control = {"prompt_template_version": "v2.0"}
    variant = {
        "prompt_template_version": "v2.1",
        "pipeline_settings": {"exemplar_count": 0, "performance_context": False},
    }
    _start(db, b, control, variant, "prompt_version")
    ads = {}
    for arm in ("control", "variant"):
        run = f.ad_run(db, p)
        ads[arm] = [
            r[0] for r in db.execute("SELECT * FROM genome.plan_ads(%s, 1, %s, 3)", (run, NOW))
        ]
    # What the generate job of each arm hands the agent (claimed to read it, then released).
    expected = {
        ads["control"][0]: ("v2.0", {"exemplar_count": 4, "performance_context": True}),
        ads["variant"][0]: ("v2.1", variant["pipeline_settings"]),
    }
    for _ in expected:
        job = sp.claim(db, "generate", "peek")
        ctx = db.execute("SELECT genome.job_context(%s, 'peek')", (job["id"],)).fetchone()[0]
        version, settings = expected[job["generated_ad_id"]]
        assert ctx["generation"]["prompt_template_version"] == version
        assert ctx["generation"]["pipeline_settings"] == settings
        assert brief_from_context(ctx).prompt_template_version == version
        if version == "v2.1":
            assert "performance_context" not in ctx
        assert db.execute("SELECT genome.release_job(%s, 'peek')", (job["id"],)).fetchone()[0]
    run_agents_until_idle(db_dsn, tmp_path / "img", providers=offline_providers(), timeout=180)
    prompts = dict(
        db.execute(
            "SELECT r.experiment_group, g.prompt_text FROM generated_ads AS g "
            "JOIN ad_runs AS r ON r.id = g.ad_run_id WHERE g.id = ANY(%s)",
            (ads["control"] + ads["variant"],),
        ).fetchall()
    )
    assert prompts["variant"].startswith("Design one social media ad for Serum by Lumen.")
    assert "Hard constraints:" in prompts["variant"]
    assert prompts["control"].startswith("A polished social media ad for Serum by Lumen.")
    assert "Hard constraints:" not in prompts["control"]


def test_unknown_prompt_template_fails_the_attempt_never_swaps_templates() -> None:
    from agents.pipeline import StageFailed

    ctx = {
        "ad": {"id": "00000000-0000-0000-0000-000000000001", "element_tags": {}},
        "product": {"name": "Serum"},
        "brand": {"name": "Lumen"},
        "generation": {"prompt_template_version": "v9"},
    }
    with pytest.raises(StageFailed, match="v9"):
        brief_from_context(ctx)
    ctx["generation"] = {"prompt_template_version": "v2.1"}
    brief = brief_from_context(ctx)
    assert image_prompt(brief) == PROMPT_TEMPLATES["v2.1"](brief) != PROMPT_TEMPLATES["v2.0"](brief)


def test_the_arms_exemplar_count_sets_the_review_few_shot_examples() -> None:
    from agents.pipeline import ExemplarSource

    class Queue:
        def __init__(self) -> None:
            self.asked: list[int] = []

        def review_exemplars(self, job_id, vector, model, k, descriptor=None):
            self.asked.append(k)
            return []

    queue = Queue()
    source = ExemplarSource(queue)  # type: ignore[arg-type]
    ctx = {
        "active_exemplars": 3,
        "visual_lookup": {"embedding_model": "m", "agent_job_id": None},
        "generation": {
            "prompt_template_version": "v2.0",
            "pipeline_settings": {"exemplar_count": 0},
        },
    }
    assert source.fetch("job", ctx, b"", None) == ([], [], [])  # type: ignore[arg-type]
    ctx["generation"]["pipeline_settings"]["exemplar_count"] = 2
    source.fetch("job", ctx, b"", None)  # type: ignore[arg-type]
    del ctx["generation"]
    source.fetch("job", ctx, b"", None)  # type: ignore[arg-type]
    assert queue.asked == [2, 4]


# --- the run-level test and the alpha spending ----------------------------------------


def _look(db, v, c, ads=100, fraction=0.5, spent=0.0, rho=1.0):
    return (
        db.cursor(row_factory=dict_row)
        .execute(
            "SELECT * FROM genome._generation_look(%s::float8[], %s::float8[], %s, %s, 20, 3, "
            "%s, %s, 0.05, %s)",
            ([float(x) for x in v], [float(x) for x in c], ads, ads, fraction, spent, rho),
        )
        .fetchone()
    )


def test_run_level_test_matches_scipy_and_statsmodels(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(7)
    cases = [
        (rng.normal(0.5, 0.1, 6), rng.normal(0.55, 0.3, 9)),
        (rng.beta(2, 5, 3), rng.beta(2, 5, 3)),
        (rng.binomial(5, 0.4, 12) / 5, rng.binomial(5, 0.6, 4) / 5),
        (rng.lognormal(0, 1, 30), rng.lognormal(0.2, 0.5, 25)),
    ]
    for x, y in cases:
        got = _look(db, x, y)
        ref = stats.ttest_ind(x, y, equal_var=False)
        t_sm, p_sm, df_sm = sm_ttest_ind(x, y, usevar="unequal")
        assert (got["n_variant"], got["n_control"]) == (len(x), len(y))
        assert got["mean_variant"] == pytest.approx(x.mean(), rel=1e-14)
        assert got["mean_control"] == pytest.approx(y.mean(), rel=1e-14)
        assert got["t"] == pytest.approx(ref.statistic, rel=1e-12)
        assert got["t"] == pytest.approx(t_sm, rel=1e-12)
        assert got["df"] == pytest.approx(df_sm, rel=1e-12)
        assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert got["p_value"] == pytest.approx(p_sm, rel=1e-9)
    one = _look(db, [0.3], [0.1, 0.2])
    assert (one["t"], one["p_value"], one["tested"], one["level"]) == (None, None, False, None)
    assert _look(db, [0.5] * 3, [0.5] * 3)["p_value"] == 1.0
    assert _look(db, [0.5] * 3, [0.25] * 3)["p_value"] is None
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome._generation_look(ARRAY[1, 'NaN']::float8[], ARRAY[1.0, 2.0], "
            "5, 5, 1, 2, 0.5, 0, 0.05, 1)"
        )
    assert err.value.sqlstate == "GN030"


def test_looks_spend_alpha_by_the_schedule(db: psycopg.Connection) -> None:
    far = ([0.9, 0.8, 0.85], [0.1, 0.2, 0.15])
    # alpha * f^rho less what earlier looks spent; the fraction is clamped to [0, 1].
    for fraction, spent, rho, level in [
        (0.5, 0.0, 1.0, 0.025),
        (0.5, 0.01, 1.0, 0.015),
        (0.5, 0.0, 3.0, 0.05 * 0.125),
        (1.5, 0.02, 1.0, 0.03),
        (0.2, 0.02, 1.0, 0.0),
    ]:
        got = _look(db, *far, fraction=fraction, spent=spent, rho=rho)
        assert got["tested"] is True
        assert got["level"] == pytest.approx(level, abs=1e-15)
        assert got["alpha_spent"] == pytest.approx(max(spent, spent + level), abs=1e-15)
        assert got["winner"] == ("variant" if got["p_value"] < level else None)
    # Too few ads or runs: no test, nothing spent, the earlier spending carried on.
    for ads, v, c in [(19, *far), (100, far[0][:2], far[1][:2])]:
        got = _look(db, v, c, ads=ads, fraction=0.9, spent=0.01)
        assert (got["tested"], got["level"], got["winner"]) == (False, None, None)
        assert got["alpha_spent"] == 0.01
    assert _look(db, far[1], far[0], fraction=1.0)["winner"] == "control"


def _simulate(rng, n_sims, effect, looks_days, runs_per_week, ads_per_run):
    """Per-run mean rewards of n_sims experiments: each run has its own effect (skewed,
    so ads of one run are correlated, ICC about 0.4), its ads' rewards vary around it."""
    n_runs = runs_per_week * len(looks_days)
    run_sd, ad_sd = 0.12, 0.15
    u = run_sd * (rng.gamma(2.0, 1.0, (2, n_sims, n_runs)) - 2.0) / np.sqrt(2.0)
    ads = 0.5 + u[..., None] + rng.normal(0.0, ad_sd, (2, n_sims, n_runs, ads_per_run))
    ads[1] += effect
    return ads  # [arm (control, variant), sim, run, ad]


def test_repeated_aa_analyses_with_run_effects_stay_within_alpha(db: psycopg.Connection) -> None:
    """1,000 simulated A/A experiments, runs with their own effects, a look every week for
    60 days (8 weekly looks and the last at day 60), all looks of all experiments in one SQL
    call: the share declaring a difference is at most alpha. Ads treated as independent
    and re-checked weekly at 0.05 (the old analysis) declare one far more often; a real
    run-level difference (0.2 on rewards whose runs vary with sd 0.12) is still found."""
    rng = np.random.default_rng(20261204)
    looks = [7, 14, 21, 28, 35, 42, 49, 56, 60]
    min_n, alpha, rho, max_days = 20, 0.05, 1.0, 60
    n_null, n_power, per_week, per_run = 1000, 200, 2, 5
    sims = {
        "null": _simulate(rng, n_null, 0.0, looks, per_week, per_run),
        "power": _simulate(rng, n_power, 0.2, looks, per_week, per_run),
    }
    rows = []
    for name, ads in sims.items():
        run_means = ads.mean(axis=3)
        for s in range(ads.shape[1]):
            spent = 0.0
            for k, day in enumerate(looks, 1):
                r = per_week * min(k, 8)
                rows.append(
                    {
                        "sim": f"{name}-{s}",
                        "look": k,
                        "v": run_means[1, s, :r].tolist(),
                        "c": run_means[0, s, :r].tolist(),
                        "ads": r * per_run,
                        "fraction": day / max_days,
                        "spent": spent,
                    }
                )
                # The alpha the next look starts from (the SQL returns it; checked below).
                tested = r >= 3 and r * per_run >= min_n
                spent = alpha * (day / max_days) ** rho if tested else spent
    out = (
        db.cursor(row_factory=dict_row)
        .execute(
            """
        SELECT x.sim, x.look, l.tested, l.alpha_spent, l.winner
        FROM jsonb_to_recordset(%s) AS x (
            sim text, look int, v float8[], c float8[], ads int, fraction float8, spent float8
        )
        CROSS JOIN LATERAL genome._generation_look(
            x.v, x.c, x.ads, x.ads, %s, 3, x.fraction, x.spent, %s, %s
        ) AS l
        ORDER BY x.sim, x.look
        """,
            (Jsonb(rows), min_n, alpha, rho),
        )
        .fetchall()
    )
    by_key = {(r["sim"], r["look"]): r for r in rows}
    declared = {"null": set(), "power": set()}
    for o in out:
        nxt = by_key.get((o["sim"], o["look"] + 1))
        if nxt is not None:
            assert o["alpha_spent"] == pytest.approx(nxt["spent"], abs=1e-15)
        assert o["tested"] == (o["look"] >= 2)
        if o["winner"] is not None:
            declared[o["sim"].split("-")[0]].add(o["sim"])
    false_positive = len(declared["null"]) / n_null
    power = len(declared["power"]) / n_power
    assert false_positive <= alpha, false_positive
    assert false_positive > 0.005  # the test is not dead
    assert power >= 0.8, power

    # The old analysis: ads as independent, Mann-Whitney U at 0.05 at every look.
    null = sims["null"]
    naive = np.zeros(n_null, dtype=bool)
    for k in range(2, len(looks) + 1):
        r = per_week * min(k, 8)
        v = null[1, :, :r].reshape(n_null, -1)
        c = null[0, :, :r].reshape(n_null, -1)
        p = stats.mannwhitneyu(v, c, axis=1, method="asymptotic").pvalue
        naive |= p < 0.05
    assert naive.mean() > 0.3, naive.mean()  # about 0.5 with this seed
