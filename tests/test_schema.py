"""The schema's fixes to the existing app's tables (docs/rewards.md), constraints, indexes and documentation."""

from __future__ import annotations

import psycopg
import pytest

from sim import factories as f


def _refused(db: psycopg.Connection, sql: str, params: tuple = ()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as err:
        db.execute(sql, params)
    return err.value


def test_p0_1_unknown_job_type_is_refused(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO scheduled_jobs (name, job_type) VALUES ('v2', 'ad_creation_v2')")
    err = _refused(db, "INSERT INTO scheduled_jobs (name, job_type) VALUES ('x', 'ad_creaton_v2')")
    assert err.sqlstate == "23514" and "valid_job_type" in str(err)


def test_p0_2_identity_includes_canvas_size(db: psycopg.Connection) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)))
    ins = "INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size) VALUES (%s, 1, %s)"
    db.execute(ins, (run, "1080x1080px"))
    db.execute(ins, (run, "1080x1920px"))
    assert _refused(db, ins, (run, "1080x1080px")).sqlstate == "23505"
    db.execute(ins, (run, None))
    # A NULL canvas size is 'default', not a hole in the key.
    assert _refused(db, ins, (run, None)).sqlstate == "23505"


def test_p0_3_template_usage_has_template_id(db: psycopg.Connection) -> None:
    p = f.product(db, f.brand(db))
    db.execute(
        "INSERT INTO product_template_usage (product_id, template_storage_name, template_id) "
        "VALUES (%s, 'tpl/a.png', gen_random_uuid())",
        (p,),
    )
    assert (
        db.execute(
            "SELECT count(*) FROM product_template_usage WHERE template_id IS NOT NULL"
        ).fetchone()[0]
        == 1
    )


def test_p1_columns_exist(db: psycopg.Connection) -> None:
    cols = {
        (r[0], r[1])
        for r in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
    }
    for needed in [
        ("generated_ads", "canvas_size"),  # persisted
        ("ad_runs", "max_attempts"),
        ("ad_runs", "attempts_count"),
        ("ad_runs", "approved_count"),  # runs count approvals
        ("generated_ads", "template_id"),  # optional
        ("meta_ads_performance", "campaign_objective"),  # objective per row
        ("meta_ad_mapping", "generated_ad_id"),  # the attribution path
        ("brands", "category"),
    ]:
        assert needed in cols, needed
    nullable = db.execute(
        "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'generated_ads' "
        "AND column_name = 'template_id'"
    ).fetchone()[0]
    assert nullable == "YES"


def test_run_counts_cannot_be_negative_but_the_apps_own_approvals_count(
    db: psycopg.Connection,
) -> None:
    """A run's counts are never negative; approvals may exceed what plan_ads counted as
    attempts, since the existing app inserts and approves ads plan_ads never planned
    (tests/test_existing_app.py)."""
    run = f.ad_run(db, f.product(db, f.brand(db)))
    err = _refused(db, "UPDATE ad_runs SET approved_count = -1 WHERE id = %s", (run,))
    assert "ad_runs_attempts_check" in str(err)
    db.execute("UPDATE ad_runs SET approved_count = 1 WHERE id = %s", (run,))


def test_p2_1_flagged_is_a_valid_final_status(db: psycopg.Connection) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)))
    f.ad(db, run, {"hook_type": "story"}, status="flagged")
    assert _refused(db, "UPDATE generated_ads SET final_status = 'maybe'").sqlstate == "23514"


def test_p2_2_brand_level_scores_are_unique(db: psycopg.Connection) -> None:
    b = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    ins = (
        "INSERT INTO genome.creative_element_scores (organization_id, brand_id, product_id, "
        "element_dimension, element_value) VALUES (%s, %s, NULL, 'hook_type', 'story')"
    )
    db.execute(ins, (org, b))
    assert _refused(db, ins, (org, b)).sqlstate == "23505"


def test_p2_2_override_history_is_kept(db: psycopg.Connection) -> None:
    b = f.brand(db)
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    ad = f.ad(db, f.ad_run(db, f.product(db, b)), {"hook_type": "story"})
    for human, kind in [("approved", "override_approve"), ("rejected", "confirm_reject")]:
        db.execute(
            "INSERT INTO genome.ad_review_overrides (organization_id, generated_ad_id, ai_status, "
            "human_status, override_type) VALUES (%s, %s, 'rejected', %s, %s)",
            (org, ad, human, kind),
        )
    assert db.execute("SELECT count(*) FROM genome.ad_review_overrides").fetchone()[0] == 2


def test_p2_2_mapping_has_no_null_hole(db: psycopg.Connection) -> None:
    ins = (
        "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_campaign_id) "
        "VALUES (NULL, 'm1', 'c1')"
    )
    db.execute(ins)
    assert _refused(db, ins).sqlstate == "23505"


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ("spend => -1", "meta_ads_performance_spend_check"),
        ("spend => 'NaN'", "meta_ads_performance_spend_check"),
        # numeric(12,2) itself cannot hold infinity.
        ("spend => 'Infinity'", "cannot hold an infinite value"),
        ("impressions => 10, link_clicks => 11", "meta_ads_performance_clicks_check"),
        ("impressions => -5, link_clicks => -6", "meta_ads_performance_counts_check"),
        ("link_ctr => 140", "meta_ads_performance_rates_check"),
        ("roas => 'NaN'", "meta_ads_performance_rates_check"),
    ],
)
def test_impossible_performance_numbers_are_refused(
    db: psycopg.Connection, values: str, constraint: str
) -> None:
    cols = {"spend": "1", "impressions": "100", "link_clicks": "1", "link_ctr": "1", "roas": "1"}
    for part in values.split(", "):
        k, v = part.split(" => ")
        cols[k] = v
    names = ", ".join(cols)
    vals = ", ".join(f"{v}" if not v.startswith("'") else f"{v}::numeric" for v in cols.values())
    err = _refused(
        db,
        f"INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id, date, {names}) "
        f"VALUES ('a', 'm', 'c', '2026-01-01', {vals})",
    )
    assert constraint in str(err)


def test_every_genome_table_and_function_is_documented(db: psycopg.Connection) -> None:
    undocumented_tables = db.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'genome' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL"
    ).fetchall()
    assert undocumented_tables == []
    undocumented_functions = db.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'genome' AND p.prokind = 'f' "
        "AND obj_description(p.oid, 'pg_proc') IS NULL "
        "AND p.prorettype <> 'trigger'::regtype"
    ).fetchall()
    assert undocumented_functions == []


# SQL functions the planner must inline (a SET clause prevents it): IMMUTABLE expressions
# over their arguments and pg_catalog built-ins only, which pg_catalog resolves first
# whatever the caller's search_path.
INLINED = {
    "genome._ad_empirical_logit(double precision,double precision)",
    "genome._ad_logit_variance(double precision,double precision,double precision,double precision)",
    "genome._exposure_newton_step(double precision,double precision)",
    "genome._frequency_exposure_factors(uuid)",
    "genome._learner_stage_metric(text)",
}


def test_genome_functions_pin_their_search_path(db: psycopg.Connection) -> None:
    unpinned = db.execute(
        "SELECT p.oid::regprocedure::text, p.provolatile, l.lanname FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
        "WHERE n.nspname = 'genome' AND l.lanname <> 'plpython3u' "
        "AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%')"
    ).fetchall()
    assert {u[0] for u in unpinned} == INLINED
    # (A set-returning one reads tables, so it is stable; the planner inlines those too.)
    assert all(u[2] == "sql" and u[1] in ("i", "s") for u in unpinned)


def test_access_path_indexes_exist(db: psycopg.Connection) -> None:
    defs = "\n".join(
        r[0]
        for r in db.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname IN ('public', 'genome')"
        )
    )
    assert "USING hnsw (visual_embedding vector_cosine_ops)" in defs
    assert "USING hnsw (exemplar_embedding vector_cosine_ops)" in defs
    assert "creative_element_scores_brand_dim_idx" in defs
    assert "agent_jobs_claim_idx" in defs
    assert "(brand_id, meta_ad_id, date)" in defs
    assert "USING gin (element_tags)" in defs


def test_registry_holds_the_seed_defaults(db: psycopg.Connection) -> None:
    weights = dict(
        db.execute(
            "SELECT dimension, strategic_weight::float FROM genome.element_dimensions"
        ).fetchall()
    )
    assert (weights["belief_angle"], weights["hook_type"], weights["color_mode"]) == (1.0, 0.9, 0.4)
    rw = {(r[0], r[1]): float(r[2]) for r in db.execute("SELECT * FROM genome.reward_weights")}
    assert rw[("CONVERSIONS", "roas")] == 0.5 and rw[("TRAFFIC", "ctr")] == 0.7
    assert rw[("BRAND_AWARENESS", "cpm")] == 0.5
    mat = {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT metric, maturation_days, min_impressions FROM genome.reward_metrics"
        )
    }
    assert (mat["ctr"], mat["conversion_rate"], mat["roas"]) == ((3, 500), (7, 500), (10, 500))
    checks = dict(db.execute("SELECT code, weight::float FROM genome.review_checks").fetchall())
    assert len(checks) == 16 and checks["V1"] == 1.5 and checks["V9"] == 1.2 and checks["C5"] == 1.5
    om = dict(
        db.execute("SELECT meta_objective, reward_objective FROM genome.objective_map").fetchall()
    )
    assert om["OUTCOME_SALES"] == "CONVERSIONS" and om["OUTCOME_AWARENESS"] == "BRAND_AWARENESS"


def test_new_organization_gets_an_active_default_config(db: psycopg.Connection) -> None:
    o = f.org(db)
    row = db.execute(
        "SELECT version, is_active, weighted_pass_threshold, check_weights->>'V2', hard_reject_thresholds "
        "FROM genome.quality_scoring_config WHERE organization_id = %s",
        (o,),
    ).fetchone()
    assert row[0] == "default-v1" and row[1] is True and float(row[2]) == 7.0
    assert float(row[3]) == 1.5 and row[4] == {"V9": 3.0, "C5": 3.0}
